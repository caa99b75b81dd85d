/* Gongzhi search: Pagefind behind Material's header search box (partials/search.html).
 *
 * - Nothing is downloaded until a resident opens or focuses the search: then pagefind.js, its
 *   small metadata file and only the index chunks and result fragments a query needs, all from
 *   this site (no other origin).
 * - Results show the title, the page type, the street (村社 and what belongs to them) and an
 *   excerpt with the matched words marked; filters narrow by page type and by street.
 * - Keyboard: "/" or "s" (or "f") opens the search, Esc closes it, ↑/↓ move through results.
 * - Works with and without Material's instant navigation (re-synchronised on document$).
 */
(function () {
  "use strict";
  if (window.__gongzhiSearch) return;
  window.__gongzhiSearch = true;

  var TYPE_ORDER = ["街道", "社区", "议事", "项目", "政策", "报告", "组织", "评选", "参与", "数据", "标签", "说明", "首页"];
  var TYPE_KEY = "类型";
  var STREET_KEY = "街道";
  var PAGE_SIZE = 10;
  var DEBOUNCE_MS = 160;
  var FULL_FILTERS_MAX = 20000;
  var RERANK = 20; // results re-ordered by title match (their fragments are loaded anyway)

  /* The index holds every CJK character as a word of its own (generator/search.py,
     spaced_cjk; keep these ranges in step), so the query is spaced the same way here and a
     Chinese term is searched as an exact phrase: any substring is found, whatever the
     browser's own word segmentation would have made of it. */
  var CJK = "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ef" +
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef";
  var CJK_CHAR = new RegExp("[" + CJK + "]", "g");
  var HAS_CJK = new RegExp("[" + CJK + "]");
  var SPACE_BEFORE_CJK = new RegExp("\\s+([\\ue000\\ue001]*[" + CJK + "])", "g");
  var SPACE_AFTER_CJK = new RegExp("([" + CJK + "][\\ue000\\ue001]*)\\s+", "g");
  var PUNCTUATION = /[\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"'“”‘’《》〈〉()\[\]{}<>,.;:!?、，。；：！？]/g;

  function spaced(text) {
    return text.replace(CJK_CHAR, " $& ").replace(/\s+/g, " ").trim();
  }

  /* Undo the spacing for display: drop whitespace next to a CJK character (mark tags, held
     as private-use sentinels, do not count). */
  function unspaced(text) {
    return String(text || "").replace(/\u200b/g, "")
      .replace(SPACE_BEFORE_CJK, "$1").replace(SPACE_AFTER_CJK, "$1");
  }

  function plain(text) {
    return unspaced(text).replace(PUNCTUATION, "").replace(/\s+/g, "").toLowerCase();
  }

  var siteRoot = null; // absolute URL of the site root, fixed at first load
  var pagefind = null;
  var loading = null;
  var els = null;
  var state = { query: "", type: "", street: "", search: null, shown: 0, seq: 0, timer: 0, filters: null };

  function $(selector, root) {
    return (root || document).querySelector(selector);
  }

  function escapeHtml(text) {
    return String(text == null ? "" : text)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  /* Pagefind's excerpt is escaped text with <mark> around matches. Keep exactly that: escape
     everything, then restore the mark tags, so nothing else from the index can become markup. */
  function safeExcerpt(html) {
    var held = String(html || "")
      .replace(/<\/mark>(\s*)<mark>/g, "$1")
      .replace(/<mark>/g, "\ue000").replace(/<\/mark>/g, "\ue001");
    return escapeHtml(unspaced(held))
      .replace(/&amp;(lt|gt|amp|quot|#39|#x27);/g, "&$1;")
      .replace(/\ue000/g, "<mark>").replace(/\ue001/g, "</mark>");
  }

  function computeRoot() {
    var base = ".";
    var config = document.getElementById("__config");
    if (config) {
      try { base = JSON.parse(config.textContent).base || "."; } catch (e) { /* keep "." */ }
    }
    return new URL(base.replace(/\/?$/, "/"), window.location.href);
  }

  function toggle() {
    return document.getElementById("__search");
  }

  function isOpen() {
    var t = toggle();
    return !!(t && t.checked);
  }

  function setOpen(open) {
    var t = toggle();
    if (!t || t.checked === open) return;
    t.checked = open;
    t.dispatchEvent(new Event("change"));
  }

  function load() {
    if (pagefind) return Promise.resolve(pagefind);
    if (loading) return loading;
    var url = new URL("pagefind/pagefind.js", siteRoot).href;
    /* The filter values come from a small list the search stage writes; Pagefind's own filter
       index (needed for per-query counts) grows with the page count, so it is loaded only
       for sites up to FULL_FILTERS_MAX pages. */
    var list = fetch(new URL("pagefind/gongzhi-filters.json", siteRoot).href)
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; });
    loading = Promise.all([import(url), list])
      .then(function (loaded) {
        var module = loaded[0];
        var listed = loaded[1];
        return Promise.resolve(module.options({ baseUrl: siteRoot.pathname, excerptLength: 36 }))
          .then(function () { return module.init(); })
          .then(function () {
            if (listed && listed.pages > FULL_FILTERS_MAX) return listed.filters;
            return module.filters();
          })
          .then(function (filters) {
            pagefind = module;
            state.filters = filters || {};
            buildFilters(state.filters);
            return module;
          });
      })
      .catch(function (error) {
        loading = null;
        setStatus("搜索暂时不可用：索引没有加载成功，请稍后重试，或按街道浏览。");
        showEmpty("");
        throw error;
      });
    return loading;
  }

  function setStatus(text) {
    els.status.textContent = text;
  }

  function sortedKeys(counts, order) {
    return Object.keys(counts || {}).sort(function (a, b) {
      var ia = order ? order.indexOf(a) : -1;
      var ib = order ? order.indexOf(b) : -1;
      if (ia !== ib) return (ia < 0 ? 999 : ia) - (ib < 0 ? 999 : ib);
      return a.localeCompare(b, "zh-Hans-CN");
    });
  }

  function buildFilters(filters) {
    var types = sortedKeys(filters[TYPE_KEY], TYPE_ORDER);
    var streets = sortedKeys(filters[STREET_KEY]);
    els.types.textContent = "";
    if (types.length) {
      els.types.appendChild(chip("", "全部"));
      types.forEach(function (type) { els.types.appendChild(chip(type, type)); });
    }
    while (els.street.options.length > 1) els.street.remove(1);
    streets.forEach(function (street) {
      var option = document.createElement("option");
      option.value = street;
      option.textContent = street;
      els.street.appendChild(option);
    });
    els.streetLabel.hidden = streets.length === 0;
    els.filters.hidden = types.length === 0 && streets.length === 0;
    syncFilterControls();
  }

  function chip(value, label) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "gz-search__chip";
    button.dataset.type = value;
    button.textContent = label;
    button.addEventListener("click", function () {
      state.type = value;
      syncFilterControls();
      run(true);
    });
    return button;
  }

  function syncFilterControls() {
    Array.prototype.forEach.call(els.types.querySelectorAll("button"), function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.type === state.type));
    });
    els.street.value = state.street;
  }

  function updateCounts(search) {
    var counts = (search && search.filters && search.filters[TYPE_KEY]) || null;
    Array.prototype.forEach.call(els.types.querySelectorAll("button"), function (button) {
      var type = button.dataset.type;
      var label = type || "全部";
      if (counts && type) label += " " + (counts[type] || 0);
      button.textContent = label;
      button.classList.toggle("gz-search__chip--none", !!(counts && type && !counts[type]));
    });
  }

  function activeFilters() {
    var filters = {};
    if (state.type) filters[TYPE_KEY] = state.type;
    if (state.street) filters[STREET_KEY] = state.street;
    return filters;
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(function () { run(false); }, DEBOUNCE_MS);
  }

  function run(immediate) {
    clearTimeout(state.timer);
    var query = els.input.value.trim();
    var filters = activeFilters();
    var hasFilter = Object.keys(filters).length > 0;
    var seq = ++state.seq;
    state.query = query;
    if (!query && !hasFilter) {
      state.search = null;
      els.list.textContent = "";
      els.more.hidden = true;
      els.empty.hidden = true;
      updateCounts(null);
      setStatus("键入以开始搜索：村社名称、拼音或首字母、议题、政策文号……");
      return Promise.resolve();
    }
    if (!pagefind) setStatus("正在加载搜索索引……");
    return load().then(function (pf) {
      if (seq !== state.seq) return null;
      return find(pf, query, filters).then(function (search) {
        if (seq !== state.seq || !search) return null;
        state.search = search;
        state.shown = 0;
        els.list.textContent = "";
        updateCounts(search);
        if (!search.results.length) {
          setStatus(query ? "没有找到与“" + query + "”相关的内容。" : "没有符合筛选条件的页面。");
          showEmpty(query);
          els.more.hidden = true;
          return null;
        }
        els.empty.hidden = true;
        /* The status (read out by screen readers) changes once the first results are shown. */
        return showMore(seq).then(function () {
          if (seq !== state.seq) return;
          setStatus(
            (query ? "找到 " + search.results.length + " 个与“" + query + "”相关的结果" : "共 " + search.results.length + " 个页面") +
            (hasFilter ? "（已筛选）" : "")
          );
        });
      });
    }).catch(function () { /* status already says what happened */ });
  }

  /* One query: the ranked search over all its words (Pagefind's weighted score: titles and
     headings count more), kept only where each Chinese term occurs as a phrase; then the
     first results re-ordered so a page whose title is the query comes first. */
  function find(pf, query, filters) {
    if (!query) return pf.search(null, { filters: filters });
    /* Pagefind drops punctuation from the query but the index keeps its place, so a phrase
       never spans punctuation: 临政法〔2025〕7号 is searched as 临政法 + 2025 + 7号. */
    var terms = query.replace(PUNCTUATION, " ").split(/\s+/).filter(Boolean);
    var ranked = pf.search(spaced(query), { filters: filters });
    var phrases = terms.filter(function (t) { return HAS_CJK.test(t) && spaced(t).indexOf(" ") > 0; })
      .map(function (t) { return pf.search("\"" + spaced(t) + "\"", { filters: filters }); });
    return Promise.all([ranked].concat(phrases)).then(function (all) {
      var search = all[0];
      if (!search) return null;
      var results = search.results;
      all.slice(1).forEach(function (phrase) {
        var byId = {};
        (phrase ? phrase.results : []).forEach(function (r) { byId[r.id] = r; });
        results = results.filter(function (r) { return byId[r.id]; });
        /* With one Chinese term, show the phrase search's own result: its excerpt marks the
           phrase, not every scattered occurrence of its characters. */
        if (all.length === 2) results = results.map(function (r) { return byId[r.id]; });
      });
      /* Filter counts are exact when one search decides the result set. */
      var counts = all.length === 1 ? search.filters : all.length === 2 && all[1] ? all[1].filters : null;
      return rerank(results, plain(query)).then(function (ordered) {
        return { results: ordered, filters: counts };
      });
    });
  }

  function rerank(results, wanted) {
    var head = results.slice(0, RERANK);
    return Promise.all(head.map(function (r) { return r.data(); })).then(function (pages) {
      var scored = head.map(function (r, i) {
        var title = plain((pages[i].meta || {}).title || "");
        var bonus = title === wanted ? 3 : title.indexOf(wanted) === 0 ? 2 : title.indexOf(wanted) >= 0 ? 1 : 0;
        return { r: r, i: i, bonus: bonus };
      });
      scored.sort(function (a, b) { return b.bonus - a.bonus || a.i - b.i; });
      return scored.map(function (x) { return x.r; }).concat(results.slice(RERANK));
    });
  }

  function showEmpty(query) {
    var browse = els.root.getAttribute("data-gz-browse") || new URL("streets/", siteRoot).href;
    var filtered = state.type || state.street;
    els.empty.innerHTML =
      "<p>" + (query ? "换个说法试试：用更短的词，或用拼音、拼音首字母（如 linping、lp）。" : "") +
      "也可以<a href=\"" + escapeHtml(browse) + "\">按街道浏览</a>各街道和村社的页面。</p>" +
      (filtered ? "<p><button type=\"button\" class=\"gz-search__clear md-button\">清除筛选，搜索全部页面</button></p>" : "");
    els.empty.hidden = false;
    var clear = $(".gz-search__clear", els.empty);
    if (clear) {
      clear.addEventListener("click", function () {
        state.type = "";
        state.street = "";
        syncFilterControls();
        run(true);
        els.input.focus();
      });
    }
  }

  function showMore(seq) {
    var search = state.search;
    if (!search) return Promise.resolve();
    var slice = search.results.slice(state.shown, state.shown + PAGE_SIZE);
    return Promise.all(slice.map(function (r) { return r.data(); })).then(function (pages) {
      if (seq !== state.seq) return;
      pages.forEach(function (data) { els.list.appendChild(renderResult(data)); });
      state.shown += slice.length;
      els.more.hidden = state.shown >= search.results.length;
      if (!els.more.hidden) {
        els.more.textContent = "显示更多结果（还有 " + (search.results.length - state.shown) + " 个）";
      }
    });
  }

  function renderResult(data) {
    var meta = data.meta || {};
    var type = meta.type || "";
    var street = meta.street || "";
    var item = document.createElement("li");
    item.className = "md-search-result__item gz-search-result";
    var context = "";
    if (type) context += "<span class=\"gz-search-result__type\">" + escapeHtml(type) + "</span>";
    if (street && street !== meta.title) context += "<span class=\"gz-search-result__street\">" + escapeHtml(street) + "</span>";
    item.innerHTML =
      "<a class=\"md-search-result__link\" href=\"" + escapeHtml(data.url) + "\">" +
      "<article class=\"md-search-result__article md-search-result__article--document md-typeset\">" +
      "<div class=\"md-search-result__icon md-icon\"></div>" +
      "<h1 class=\"gz-search-result__title\">" + escapeHtml(unspaced(meta.title) || data.url) + "</h1>" +
      (context ? "<p class=\"gz-search-result__context\">" + context + "</p>" : "") +
      "<p class=\"gz-search-result__excerpt\">" + safeExcerpt(data.excerpt || "") + "</p>" +
      "</article></a>";
    return item;
  }

  function links() {
    return Array.prototype.slice.call(els.list.querySelectorAll("a.md-search-result__link"));
  }

  function isEditable(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return target.isContentEditable || tag === "input" || tag === "textarea" || tag === "select";
  }

  function onGlobalKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (!isOpen()) {
      if ((event.key === "/" || event.key === "s" || event.key === "S" || event.key === "f") && !isEditable(event.target)) {
        event.preventDefault();
        open();
      }
      return;
    }
    var items = links();
    var index = items.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    } else if (event.key === "ArrowDown" && items.length && (index >= 0 || document.activeElement === els.input)) {
      event.preventDefault();
      items[Math.min(index + 1, items.length - 1)].focus();
    } else if (event.key === "ArrowUp" && index >= 0) {
      event.preventDefault();
      if (index === 0) els.input.focus(); else items[index - 1].focus();
    }
  }

  function open() {
    setOpen(true);
    els.input.focus();
    els.input.select();
    load().catch(function () {});
  }

  function close() {
    setOpen(false);
    els.input.blur();
  }

  function init() {
    var root = $("[data-gz-search]");
    if (!root) return;
    siteRoot = computeRoot();
    els = {
      root: root,
      form: $("form", root),
      input: $(".md-search__input", root),
      status: $(".md-search-result__meta", root),
      list: $(".md-search-result__list", root),
      more: $(".gz-search__more", root),
      empty: $(".gz-search__empty", root),
      filters: $(".gz-search__filters", root),
      types: $(".gz-search__types", root),
      street: $(".gz-search__street select", root),
      streetLabel: $(".gz-search__street", root),
    };
    els.input.addEventListener("input", schedule);
    els.input.addEventListener("focus", function () {
      setOpen(true);
      load().catch(function () {});
    });
    els.form.addEventListener("submit", function (event) {
      event.preventDefault();
      var first = links()[0];
      if (first && els.input.value.trim() === state.query) first.click();
      else run(true);
    });
    els.form.addEventListener("reset", function () {
      setTimeout(function () { run(true); els.input.focus(); }, 0);
    });
    els.street.addEventListener("change", function () {
      state.street = els.street.value;
      run(true);
    });
    els.more.addEventListener("click", function () { showMore(state.seq); });
    els.list.addEventListener("click", function (event) {
      if (event.target.closest && event.target.closest("a")) setTimeout(close, 0);
    });
    var t = toggle();
    if (t) {
      t.addEventListener("change", function () {
        if (t.checked && document.activeElement !== els.input) {
          els.input.focus();
          load().catch(function () {});
        }
      });
    }
    document.addEventListener("keydown", onGlobalKey);

    /* Material's instant navigation swaps the page but keeps the header (and this search);
       close the search after each navigation so the new page is visible. */
    if (window.document$ && typeof window.document$.subscribe === "function") {
      window.document$.subscribe(function () { if (isOpen()) close(); });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
