// Accessibility fixes for markup the book does not write itself (theme, bibliography,
// widgets). Added to every page by _ext/offline_assets.py; checked by axe-core in
// tests/browser. Each fix names the axe rule it addresses.
(function () {
  "use strict";
  function fix() {
    // label-content-name-mismatch: the theme's search button says "Search Ctrl+K" but is
    // labelled "Search"; without aria-label its name is its visible text.
    document.querySelectorAll(".search-button__button[aria-label]").forEach(function (b) {
      if (b.textContent.trim()) b.removeAttribute("aria-label");
    });
    // label-content-name-mismatch: the colour-mode button's icons carry titles
    // ("Light", "Dark") that differ from its label; the icons are decoration.
    // Font Awesome turns each <i title=...> into an <svg> with a <title> child, at a
    // moment of its own; the observer below reapplies this after it does.
    document.querySelectorAll(".theme-switch-button i, .theme-switch-button svg").forEach(function (i) {
      if (i.getAttribute("aria-hidden") !== "true") i.setAttribute("aria-hidden", "true");
      if (i.hasAttribute("title")) i.removeAttribute("title");
      if (i.hasAttribute("aria-labelledby")) i.removeAttribute("aria-labelledby");
      i.querySelectorAll("title").forEach(function (t) { t.remove(); });
    });
    // aria-required-children, aria-deprecated-role: the bibliography is role="list" but
    // its entries use the deprecated role doc-biblioentry.
    document.querySelectorAll('[role="list"] > [role="doc-biblioentry"]').forEach(function (e) {
      e.setAttribute("role", "listitem");
    });
    labelSliders();
  }

  // aria-input-field-name: ipywidgets' slider handles (role="slider") have no name;
  // give each the text of its widget's description label.
  function labelSliders() {
    document.querySelectorAll('.noUi-handle[role="slider"]:not([aria-label])').forEach(function (h) {
      var widget = h.closest(".widget-slider, .jupyter-widgets");
      var label = widget && widget.querySelector(".widget-label");
      var text = label && label.textContent.trim();
      h.setAttribute("aria-label", text || "slider");
    });
  }
  // A solution's title ("Solution to Exercise 3.1 (...)") is mostly a link. sphinx-togglebutton
  // opens the dropdown only when the click lands on the title's padding or on its chevron
  // button; a click on the link text jumps to the exercise and throws "button is not
  // defined". Make a click anywhere on the title work the chevron button.
  document.addEventListener("click", function (ev) {
    var target = ev.target;
    if (!(target instanceof Element)) return;
    var title = target.closest(".admonition.toggle > .admonition-title");
    if (!title || target === title || target.closest(".toggle-button")) return;
    var button = title.querySelector(".toggle-button");
    if (!button) return;
    ev.preventDefault();
    ev.stopPropagation();
    button.click();
  }, true);

  // The theme's scripts, Font Awesome and the widget manager keep adding markup after the
  // page is parsed (widgets render after the load event): fix again after each change.
  var pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; fix(); });
  }
  function start() {
    fix();
    new MutationObserver(schedule).observe(document.body, {childList: true, subtree: true});
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  window.addEventListener("load", schedule);
})();
