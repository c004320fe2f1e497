// Wide display equations and tables on narrow screens (added by _ext/offline_assets.py,
// styled by book-mobile.css, checked by tests/browser at 390 px). A box whose content is
// wider than the box gets the classes book-more-left / book-more-right while content is
// hidden beyond that edge; the CSS fades that edge out, so the reader sees that the box
// scrolls even where the browser shows no scrollbar (phones) and where table cells would
// paint over a background shadow.
(function () {
  "use strict";
  var SELECTOR = 'main mjx-container[display="true"], main .pst-scrollable-table-container, main .table-wrapper';
  function update(el) {
    var hidden = el.scrollWidth - el.clientWidth;
    var left = hidden > 2 && el.scrollLeft > 1;
    var right = hidden > 2 && el.scrollLeft < hidden - 1;
    el.classList.toggle("book-more-left", left);
    el.classList.toggle("book-more-right", right);
    if (hidden > 2 && !el.hasAttribute("tabindex")) {
      el.setAttribute("tabindex", "0");  // keyboard users can scroll it too
    }
  }
  // code and its outputs scroll sideways in their own <pre>: one that overflows must be
  // reachable by the keyboard too (axe: scrollable-region-focusable). A <pre> inside a
  // closed solution measures 0 px wide until the dropdown opens, so this runs again then.
  var CODE = "main div.highlight pre, main div.output pre, main .cell_output pre";
  function focusable(el) {
    // pydata-sphinx-theme gives a <pre> tabindex 0 if it scrolls at load, else -1, and
    // does not look again when a dropdown opens; a <pre> that scrolls now gets 0
    if (el.scrollWidth - el.clientWidth > 2 || el.scrollHeight - el.clientHeight > 2) {
      el.setAttribute("tabindex", "0");
    }
  }
  function updateAll() {
    document.querySelectorAll(SELECTOR).forEach(update);
    document.querySelectorAll(CODE).forEach(focusable);
  }
  var pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; updateAll(); });
  }
  document.addEventListener("scroll", function (ev) {
    var t = ev.target;
    if (t instanceof Element && t.matches(SELECTOR)) update(t);
  }, true);
  window.addEventListener("resize", schedule);
  window.addEventListener("load", function () {
    updateAll();
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) mj.startup.promise.then(schedule);
    // solutions and other dropdowns reveal equations and tables when opened
    // (measured once right away, once the opening animation is over)
    document.addEventListener("click", function () {
      window.setTimeout(schedule, 50);
      window.setTimeout(schedule, 450);
    }, true);
    document.addEventListener("toggle", schedule, true);  // <details>, however opened
  });
  if (document.readyState !== "loading") schedule();
  else document.addEventListener("DOMContentLoaded", schedule);
})();
