/* sysphase report: sortable tables and the syscall filter. Inlined into the page; the page
   reads the same without it (tables come sorted, the time axis is SVG). */
"use strict";
(function () {
  function value(row, col, num) {
    var cell = row.cells[col];
    if (!cell) return num ? -1 : "";
    var v = cell.getAttribute("data-v");
    if (num) return v === null || v === "" ? -1 : parseFloat(v);
    return (v === null ? cell.textContent : v).trim().toLowerCase();
  }

  function sort(table, th) {
    var heads = th.parentNode.cells, col = Array.prototype.indexOf.call(heads, th);
    var num = th.hasAttribute("data-num"), was = th.getAttribute("aria-sort");
    var down = was === "none" ? num : was === "ascending";
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, col, num), y = value(b, col, num);
      var c = x < y ? -1 : x > y ? 1 : 0;
      return down ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(heads, function (h) {
      if (h.hasAttribute("aria-sort")) h.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", down ? "descending" : "ascending");
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    var first = table.getAttribute("data-sorted");
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.setAttribute("aria-sort", String(i) === first ? th.getAttribute("data-dir") : "none");
      th.tabIndex = 0;
      th.title = "sort by " + th.textContent.trim();
      th.addEventListener("click", function () { sort(table, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(table, th); }
      });
    });
    table.setAttribute("data-sort-ready", "1");
  });

  var filter = document.getElementById("filter");
  if (filter) {
    filter.hidden = false;
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase();
      document.querySelectorAll("tr[data-s]").forEach(function (tr) {
        tr.hidden = q !== "" && tr.getAttribute("data-s").toLowerCase().indexOf(q) < 0;
      });
    });
  }
  document.body.setAttribute("data-js", "ready");
})();
