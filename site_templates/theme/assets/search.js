/* Gongzhi search: Pagefind behind Material's header search box (partials/search.html).
 *
 * - Nothing is downloaded until a resident opens or focuses the search: then the shard
 *   manifest, pagefind.js (run on the page's own thread: no worker script), the WebAssembly,
 *   the small metadata files of the shards in scope and only the index chunks and result
 *   fragments a query needs, all from this site (no other origin).
 * - Scope: the index is split into shards (generator/search.py): one for site-wide pages and
 *   one per street or group of streets. A query searches the street of the page the resident
 *   is on (with the site-wide pages); the "范围" selector changes it and is remembered
 *   (localStorage) for pages that belong to no street. Each result says which street it is in.
 * - Place names: communities and streets anywhere on the site are found by Chinese name, full
 *   pinyin or initials from small bucketed lists, shown above the page results ("地名").
 * - Results show the title, the page type, the street and an excerpt with the matched words
 *   marked; filters narrow by page type and by street.
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
  var RERANK = PAGE_SIZE; // results re-ordered by title match (their fragments are shown anyway)
  var ALL_SHARDS_MAX = 12; // "全部街道" is offered up to this many shards (each adds its metadata)
  var PLACES_MAX = 6;
  var SCOPE_STORE = "gongzhi.search.scope";
  var SCOPE_ALL = "*";
  var SCOPE_COMMON = "";
  /* Characters of administrative suffixes that begin no place name (generator/search.py's
     PLACE_GENERIC; keep in step). */
  var GENERIC = "乡份会作办区合员委居村民济社经股街道镇";

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
  var bundleRoot = null; // absolute URL of pagefind/
  var module = null; // pagefind.js, once imported
  var moduleLoading = null;
  var manifest = null; // gongzhi-shards.json (null: a single index without the manifest)
  var manifestLoading = null;
  var instances = {}; // scope key → promise of a Pagefind instance with its shards merged
  var placeBuckets = {}; // bucket key → promise of its entries
  var els = null;
  var state = {
    query: "", type: "", street: "", search: null, shown: 0, seq: 0, timer: 0, filters: null,
    scope: null, placesSeq: 0,
  };

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

  /* The hidden pinyin keys (_search_meta.md) are indexed text, so an excerpt may end in
     "…参与方式anpingshequ <mark>apsq</mark>". Residents read the page's words, not the keys:
     the keys listed in the page's "pinyin" metadata are taken out of its excerpt. */
  function withoutPinyinKeys(excerpt, keys) {
    var words = String(keys || "").split(/\s+/).filter(function (w) { return /^[a-z0-9]+$/.test(w); });
    if (!words.length) return excerpt;
    words.sort(function (a, b) { return b.length - a.length; });
    var pattern = new RegExp("(<mark>)?(?:" + words.join("|") + ")(<\\/mark>)?(?=\\s|<|$)", "g");
    return String(excerpt || "").replace(pattern, function (match, open, close, offset, text) {
      var before = offset > 0 ? text.charAt(offset - 1) : " ";
      return /[a-z0-9]/i.test(before) ? match : "";  /* only whole keys, not parts of words */
    }).replace(/\s+$/, "");
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

  function fetchJson(url) {
    return fetch(url).then(function (r) { return r.ok ? r.json() : null; }).catch(function () { return null; });
  }

  function loadManifest() {
    if (manifestLoading) return manifestLoading;
    manifestLoading = fetchJson(new URL("gongzhi-shards.json", bundleRoot).href).then(function (m) {
      manifest = m && m.version === 1 ? m : null;
      return manifest;
    });
    return manifestLoading;
  }

  function loadModule() {
    if (moduleLoading) return moduleLoading;
    moduleLoading = import(new URL("pagefind.js", bundleRoot).href).then(function (m) {
      module = m;
      return m;
    }).catch(function (error) {
      moduleLoading = null;
      throw error;
    });
    return moduleLoading;
  }

  function shards() {
    return (manifest && manifest.shards) || [];
  }

  function streets() {
    return (manifest && manifest.streets) || [];
  }

  function streetIndex(name) {
    return streets().indexOf(name);
  }

  /* The shard holding street i (shards hold runs of consecutive streets), or -1. */
  function shardOfStreet(i) {
    var list = shards();
    for (var s = 0; s < list.length; s++) {
      var run = list[s].streets;
      if (i >= run[0] && i < run[0] + run[1]) return s;
    }
    return -1;
  }

  /* The street of the page being read (its hidden search markers, partials/_search_meta.md). */
  function pageStreet() {
    var marker = document.querySelector(".gz-search-meta [data-pagefind-filter^='" + STREET_KEY + ":']");
    if (!marker) return "";
    return marker.getAttribute("data-pagefind-filter").slice(STREET_KEY.length + 1).trim();
  }

  function remembered() {
    try { return window.localStorage.getItem(SCOPE_STORE); } catch (e) { return null; }
  }

  function remember(scope) {
    try { window.localStorage.setItem(SCOPE_STORE, scope); } catch (e) { /* private mode */ }
  }

  function validScope(scope) {
    if (scope === null || scope === undefined) return false;
    if (scope === SCOPE_COMMON) return true;
    if (scope === SCOPE_ALL) return shards().length <= ALL_SHARDS_MAX;
    return shardOfStreet(streetIndex(scope)) >= 0;
  }

  /* The scope when the resident has not chosen one on this page: the page's street, else the
     one remembered from an earlier choice, else every street if that is cheap, else the
     site-wide pages only (the place-name finder still reaches every community). */
  function defaultScope() {
    if (!shards().length) return SCOPE_ALL;
    var own = pageStreet();
    if (validScope(own) && own) return own;
    var saved = remembered();
    if (validScope(saved)) return saved;
    return shards().length <= ALL_SHARDS_MAX ? SCOPE_ALL : SCOPE_COMMON;
  }

  function shardsOf(scope) {
    if (!shards().length || scope === SCOPE_COMMON) return [];
    if (scope === SCOPE_ALL) return shards().map(function (s, i) { return i; });
    var shard = shardOfStreet(streetIndex(scope));
    return shard >= 0 ? [shard] : [];
  }

  function scopeLabel(scope) {
    if (!shards().length) return "";
    if (scope === SCOPE_ALL) return "全部街道";
    if (scope === SCOPE_COMMON) return "全区公共页面";
    var shard = shards()[shardsOf(scope)[0]];
    return shard && shard.streets[1] > 1 ? shard.name : scope;
  }

  /* One Pagefind instance per scope: the site-wide bundle at pagefind/ (which carries the
     runtime) with the scope's street shards merged in. Instances are kept, so switching back
     costs nothing. */
  function instanceFor(scope) {
    var picked = shardsOf(scope);
    var key = picked.join(",");
    if (instances[key]) return instances[key];
    var options = { baseUrl: siteRoot.pathname, excerptLength: 36 };
    instances[key] = loadModule().then(function (m) {
      var pf = m.createInstance({ basePath: bundleRoot.pathname, noWorker: true });
      return Promise.resolve(pf.options(options))
        .then(function () { return pf.init(); })
        .then(function () {
          return Promise.all(picked.map(function (i) {
            return pf.mergeIndex(new URL(shards()[i].path, bundleRoot).pathname, options);
          }));
        })
        /* Pagefind's filter index of the bundles in scope (a few KB per shard: a shard's page
           count is bounded) gives the values and lets every search count its results by type. */
        .then(function () { return pf.filters(); })
        .then(function (filters) { return { pf: pf, filters: filters || {} }; });
    }).catch(function (error) {
      delete instances[key];
      throw error;
    });
    return instances[key];
  }

  /* The Pagefind instance for the current scope; the filter bar follows the scope. */
  function load() {
    return loadManifest().then(function () {
      if (state.scope === null || !validScope(state.scope)) state.scope = defaultScope();
      syncScopeControl();
      var scope = state.scope;
      return instanceFor(scope).then(function (loaded) {
        if (state.filters !== loaded.filters) {
          state.filters = loaded.filters;
          if (state.street && !(loaded.filters[STREET_KEY] || {})[state.street]) state.street = "";
          buildFilters(state.filters);
        }
        return loaded.pf;
      });
    }).catch(function (error) {
      setStatus("搜索暂时不可用：索引没有加载成功，请稍后重试，或按街道浏览。");
      showEmpty("");
      throw error;
    });
  }

  /* ----------------------------------------------------------------- scope selector */

  function buildScopeControl() {
    var list = shards();
    if (!list.length || els.scope) return;
    var label = document.createElement("label");
    label.className = "gz-search__scope";
    var caption = document.createElement("span");
    caption.textContent = "范围";
    var select = document.createElement("select");
    select.name = "scope";
    select.setAttribute("aria-label", "搜索范围");
    label.appendChild(caption);
    label.appendChild(select);
    els.filters.insertBefore(label, els.filters.firstChild);
    els.scope = select;
    els.scopeLabel = label;
    select.addEventListener("change", function () {
      state.scope = select.value;
      remember(state.scope);
      run(true);
    });
  }

  function syncScopeControl() {
    buildScopeControl();
    if (!els.scope) return;
    var select = els.scope;
    var own = pageStreet();
    var chosen = remembered();
    var signature = own + "\n" + chosen;
    if (select.dataset.signature === signature) {
      select.value = state.scope;
      return;
    }
    select.dataset.signature = signature;
    select.textContent = "";
    function option(parent, value, text) {
      var o = document.createElement("option");
      o.value = value;
      o.textContent = text;
      parent.appendChild(o);
      return o;
    }
    if (shards().length <= ALL_SHARDS_MAX) option(select, SCOPE_ALL, "全部街道");
    option(select, SCOPE_COMMON, "全区公共页面（政策、报告等）");
    shards().forEach(function (shard) {
      var parent = select;
      if (shard.streets[1] > 1) {
        parent = document.createElement("optgroup");
        parent.label = shard.name;
        select.appendChild(parent);
      }
      streets().slice(shard.streets[0], shard.streets[0] + shard.streets[1]).forEach(function (name) {
        var text = name + (name === own ? "（本页所在）" : name === chosen ? "（上次选择）" : "");
        option(parent, name, text);
      });
    });
    select.value = state.scope;
    els.filters.hidden = false;
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
    var names = sortedKeys(filters[STREET_KEY]);
    els.types.textContent = "";
    if (types.length) {
      els.types.appendChild(chip("", "全部"));
      types.forEach(function (type) { els.types.appendChild(chip(type, type)); });
    }
    while (els.street.options.length > 1) els.street.remove(1);
    names.forEach(function (street) {
      var option = document.createElement("option");
      option.value = street;
      option.textContent = street;
      els.street.appendChild(option);
    });
    /* Within one street's scope the street filter has nothing to choose. */
    els.streetLabel.hidden = names.length < 2;
    els.filters.hidden = types.length === 0 && names.length < 2 && !els.scope;
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
      showPlaces([]);
      setStatus("键入以开始搜索：村社名称、拼音或首字母、议题、政策文号……");
      return Promise.resolve();
    }
    if (!module) setStatus("正在加载搜索索引……");
    findPlaces(query);
    return load().then(function (pf) {
      if (seq !== state.seq) return null;
      return find(pf, query, filters).then(function (search) {
        if (seq !== state.seq || !search) return null;
        state.search = search;
        state.shown = 0;
        els.list.textContent = "";
        updateCounts(search);
        if (!search.results.length) {
          setStatus((query ? "没有找到与“" + query + "”相关的内容" : "没有符合筛选条件的页面") + scopeNote() + "。");
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
            (hasFilter ? "（已筛选）" : "") + scopeNote()
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

  function scopeNote() {
    var label = scopeLabel(state.scope);
    return label ? "（范围：" + label + "）" : "";
  }

  /* No result: say so, offer a wider scope (every street when that is offered, else the
     selector) and browsing by street. */
  function showEmpty(query) {
    var browse = els.root.getAttribute("data-gz-browse") || new URL("streets/", siteRoot).href;
    var filtered = state.type || state.street;
    var narrow = shards().length > 0 && state.scope !== SCOPE_ALL;
    var canWiden = narrow && shards().length <= ALL_SHARDS_MAX;
    els.empty.innerHTML =
      "<p>" + (query ? "换个说法试试：用更短的词，或用拼音、拼音首字母（如 linping、lp）。" : "") +
      (narrow ? "现在只搜索了“" + escapeHtml(scopeLabel(state.scope)) + "”" +
        (canWiden ? "，可以扩大到全部街道。" : "，可以在上方“范围”中换一个街道；村社名称在任何范围都能找到。") : "") +
      "也可以<a href=\"" + escapeHtml(browse) + "\">按街道浏览</a>各街道和村社的页面。</p>" +
      (canWiden ? "<p><button type=\"button\" class=\"gz-search__widen md-button\">在全部街道中搜索</button></p>" : "") +
      (filtered ? "<p><button type=\"button\" class=\"gz-search__clear md-button\">清除筛选，搜索全部页面</button></p>" : "");
    els.empty.hidden = false;
    var widen = $(".gz-search__widen", els.empty);
    if (widen) {
      widen.addEventListener("click", function () {
        state.scope = SCOPE_ALL;
        remember(SCOPE_ALL);
        run(true);
        els.input.focus();
      });
    }
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

  /* ----------------------------------------------------------------- place names */

  /* FNV-1a over UTF-16 code units: generator/search.py's place_hash. */
  function placeHash(key) {
    var h = 0x811c9dc5;
    for (var i = 0; i < key.length; i++) {
      h ^= key.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
  }

  /* Lookup keys of a query (generator/search.py's place_keys): its first three, else two,
     consecutive Han characters that are not suffix characters; for letters, the initials
     key of its first two or three letters and, from four letters, the full-pinyin key of its
     first 4, 6 or 8. */
  function placeQuery(query) {
    var wanted = plain(query);
    var chars = wanted.split("");
    var han = /[\u3400-\u9fff]/;
    if (han.test(wanted)) {
      var ok = chars.map(function (c) { return han.test(c) && GENERIC.indexOf(c) < 0; });
      for (var size = 3; size >= 2; size--) {
        for (var i = 0; i + size <= chars.length; i++) {
          if (ok.slice(i, i + size).every(Boolean)) {
            return { han: true, wanted: wanted, keys: ["h" + chars.slice(i, i + size).join("")] };
          }
        }
      }
      return null;
    }
    var letters = query.toLowerCase().replace(/[^0-9a-z]/g, "");
    if (letters.length < 2) return null;
    var keys = ["i" + letters.slice(0, 3)];
    if (letters.length >= 4) keys.push("f" + letters.slice(0, letters.length >= 8 ? 8 : letters.length >= 6 ? 6 : 4));
    return { han: false, wanted: letters, keys: keys };
  }

  function placeBucket(number) {
    if (!placeBuckets[number]) {
      placeBuckets[number] = fetchJson(new URL("gongzhi-places/" + number + ".json", bundleRoot).href)
        .then(function (entries) { return entries || []; });
    }
    return placeBuckets[number];
  }

  /* Communities and streets whose name contains the query, or one of whose pinyin keys
     (full pinyin, initials, with and without the administrative suffix) starts with it. */
  function findPlaces(query) {
    var seq = ++state.placesSeq;
    var wanted = placeQuery(query);
    var type = state.type;
    if (!wanted || (type && type !== "社区" && type !== "街道")) {
      showPlaces([]);
      return Promise.resolve();
    }
    return loadManifest().then(function () {
      var count = manifest && manifest.places && manifest.places.buckets;
      if (!count) return [];
      var numbers = [];
      wanted.keys.forEach(function (key) {
        var n = placeHash(key) % count;
        if (numbers.indexOf(n) < 0) numbers.push(n);
      });
      return Promise.all(numbers.map(placeBucket)).then(function (lists) {
        return [].concat.apply([], lists);
      });
    }).then(function (entries) {
      if (seq !== state.placesSeq) return;
      var scored = [];
      var seen = {};
      entries.forEach(function (e) {
        if (seen[e[1]]) return;
        var name = e[0];
        var rank = -1;
        if (wanted.han) {
          var at = name.indexOf(wanted.wanted);
          if (at >= 0) rank = name === wanted.wanted ? 0 : at === 0 ? 1 : 2;
        } else {
          var keys = String(e[4] || "").split(" ");
          for (var i = 0; i < keys.length; i++) {
            if (keys[i] === wanted.wanted) { rank = 0; break; }
            if (keys[i].indexOf(wanted.wanted) === 0) rank = 1;
          }
        }
        if (rank < 0) return;
        if (state.street && streets()[e[3]] && streets()[e[3]] !== state.street) return;
        seen[e[1]] = true;
        scored.push({ e: e, rank: rank });
      });
      scored.sort(function (a, b) {
        return a.rank - b.rank || (a.e[2] === "街道" ? 0 : 1) - (b.e[2] === "街道" ? 0 : 1) ||
          a.e[0].length - b.e[0].length || a.e[0].localeCompare(b.e[0], "zh-Hans-CN");
      });
      showPlaces(scored.slice(0, PLACES_MAX).map(function (x) { return x.e; }));
    });
  }

  function showPlaces(entries) {
    if (!els.places) return;
    els.placeList.textContent = "";
    entries.forEach(function (e) {
      var street = e[3] >= 0 && streets()[e[3]] ? streets()[e[3]] : "";
      var item = document.createElement("li");
      item.className = "gz-search__place";
      var link = document.createElement("a");
      link.className = "md-search-result__link gz-search__place-link";
      link.href = new URL(e[1], siteRoot).href;
      var name = document.createElement("span");
      name.className = "gz-search__place-name";
      name.textContent = e[0];
      var context = document.createElement("span");
      context.className = "gz-search__place-context";
      context.textContent = e[2] + (street && street !== e[0] ? " · " + street : "");
      link.appendChild(name);
      link.appendChild(context);
      item.appendChild(link);
      els.placeList.appendChild(item);
    });
    els.places.hidden = entries.length === 0;
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
    /* Which area a hit is in: its street, or the whole district for site-wide pages. */
    else if (!street && shards().length) context += "<span class=\"gz-search-result__area\">" + escapeHtml((manifest && manifest.area) || "全区") + "</span>";
    item.innerHTML =
      "<a class=\"md-search-result__link\" href=\"" + escapeHtml(data.url) + "\">" +
      "<article class=\"md-search-result__article md-search-result__article--document md-typeset\">" +
      "<div class=\"md-search-result__icon md-icon\"></div>" +
      "<h1 class=\"gz-search-result__title\">" + escapeHtml(unspaced(meta.title) || data.url) + "</h1>" +
      (context ? "<p class=\"gz-search-result__context\">" + context + "</p>" : "") +
      "<p class=\"gz-search-result__excerpt\">" + safeExcerpt(withoutPinyinKeys(data.excerpt || "", meta.pinyin)) + "</p>" +
      "</article></a>";
    return item;
  }

  function links() {
    var places = els.places && !els.places.hidden ? els.placeList.querySelectorAll("a") : [];
    return Array.prototype.slice.call(places).concat(
      Array.prototype.slice.call(els.list.querySelectorAll("a.md-search-result__link")));
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
    bundleRoot = new URL("pagefind/", siteRoot);
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
    /* The place-name list sits above the page results ("地名"). */
    var result = $(".md-search-result", root);
    els.places = document.createElement("section");
    els.places.className = "gz-search__places";
    els.places.setAttribute("aria-label", "地名");
    els.places.hidden = true;
    els.places.innerHTML = "<h2 class=\"gz-search__places-title\">地名</h2><ul class=\"gz-search__place-list\"></ul>";
    els.placeList = $("ul", els.places);
    result.insertBefore(els.places, els.empty);
    els.places.addEventListener("click", function (event) {
      if (event.target.closest && event.target.closest("a")) setTimeout(close, 0);
    });
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
      window.document$.subscribe(function () {
        if (isOpen()) close();
        /* A new page: the default scope is worked out again (its street, else the one
           remembered). */
        state.scope = null;
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
