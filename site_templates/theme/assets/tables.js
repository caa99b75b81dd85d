/* Gongzhi: sortable, filterable index tables. Local, no dependencies, about 2 KB.
   Every table inside <div class="gz-table"> gets a filter box and sortable column headers;
   without JavaScript the table is simply shown in full. */
(function () {
  "use strict";

  function sortKey(text) {
    var t = text.replace(/\s+/g, "");
    if (t === "" || t === "—") return { empty: true };
    var d = /^(\d{4})年(\d{1,2})月(?:(\d{1,2})日)?/.exec(t);
    if (d) return { num: (+d[1]) * 10000 + (+d[2]) * 100 + (+(d[3] || 0)) };
    var n = /^(-?[\d,]+(?:\.\d+)?)(万元|元|%|个|名|人|件|户)?/.exec(t);
    if (n) {
      var v = parseFloat(n[1].replace(/,/g, ""));
      if (n[2] === "万元") v *= 10000;
      if (/^\d+\/\d+$/.test(t)) { var p = t.split("/"); v = +p[0] / Math.max(+p[1], 1); }
      return { num: v };
    }
    return { str: t };
  }

  function compare(a, b) {
    if (a.empty || b.empty) return (a.empty ? 1 : 0) - (b.empty ? 1 : 0);
    if (a.num !== undefined && b.num !== undefined) return a.num - b.num;
    var sa = a.str !== undefined ? a.str : String(a.num);
    var sb = b.str !== undefined ? b.str : String(b.num);
    return sa.localeCompare(sb, "zh-Hans-CN");
  }

  function enhance(box, index) {
    var table = box.querySelector("table");
    if (!table || table.dataset.gzReady) return;
    table.dataset.gzReady = "1";
    var body = table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.slice.call(body.rows);
    var caption = box.getAttribute("data-caption") || "表格";

    var bar = document.createElement("div");
    bar.className = "gz-filter";
    var id = "gz-filter-" + index;
    var label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = "筛选" + caption + "：";
    var input = document.createElement("input");
    input.type = "search";
    input.id = id;
    input.placeholder = "输入名称、类型等关键词";
    input.setAttribute("aria-controls", id + "-table");
    var count = document.createElement("output");
    count.setAttribute("aria-live", "polite");
    count.textContent = "共 " + rows.length + " 条";
    bar.appendChild(label);
    bar.appendChild(input);
    bar.appendChild(count);
    box.insertBefore(bar, box.firstChild);
    table.id = id + "-table";

    input.addEventListener("input", function () {
      var words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row) {
        var text = row.textContent.toLowerCase();
        var ok = words.every(function (w) { return text.indexOf(w) !== -1; });
        row.hidden = !ok;
        if (ok) shown++;
      });
      count.textContent = words.length ? "显示 " + shown + " / " + rows.length + " 条" : "共 " + rows.length + " 条";
    });

    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, col) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = th.textContent;
      button.title = "按“" + th.textContent + "”排序";
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var keyed = rows.map(function (row, i) {
          var cell = row.cells[col];
          return { row: row, key: sortKey(cell ? cell.textContent : ""), i: i };
        });
        keyed.sort(function (a, b) {
          var c = compare(a.key, b.key);
          if (a.key.empty || b.key.empty) return c || a.i - b.i;
          return (ascending ? c : -c) || a.i - b.i;
        });
        keyed.forEach(function (k) { body.appendChild(k.row); });
      });
    });
  }

  function init() {
    var boxes = document.querySelectorAll(".gz-table");
    for (var i = 0; i < boxes.length; i++) enhance(boxes[i], i);
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(init);  // Material's instant navigation, when it is on
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
