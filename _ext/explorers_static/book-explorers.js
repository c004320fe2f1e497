/* The book's explorers on the static site (_ext/explorers.py): each control change
   shows the precomputed frame for the controls' values, with its own alt text. */
(function () {
  "use strict";
  function setUp(box) {
    var form = box.querySelector(".book-explorer-controls");
    var img = box.querySelector(".book-explorer-frame");
    var data = JSON.parse(box.querySelector(".book-explorer-data").textContent);
    var dir = img.getAttribute("src").replace(/[^\/]*$/, "");
    function show() {
      var key = data.names.map(function (n) { return n + form.elements[n].value; }).join("-");
      if (!(key in data.alts)) { return; }
      img.setAttribute("src", dir + key + ".png");
      img.setAttribute("alt", data.alts[key]);
      box.querySelectorAll("output").forEach(function (o) {
        o.textContent = document.getElementById(o.htmlFor.value || o.getAttribute("for")).value;
      });
    }
    form.addEventListener("input", show);
    form.addEventListener("change", show);
    box.querySelectorAll("button[data-move]").forEach(function (b) {
      b.addEventListener("click", function () {
        var r = form.querySelector('input[type="range"]');
        var v = Math.min(Math.max(Number(r.value) + Number(b.dataset.move), Number(r.min)), Number(r.max));
        r.value = String(v);
        show();
      });
    });
    box.classList.add("book-explorer-ready");
  }
  function init() { document.querySelectorAll(".book-explorer").forEach(setUp); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); }
  else { init(); }
})();
