"""Sphinx extension: the built site serves MathJax and the widget scripts itself.

``npm ci`` (package.json, package-lock.json) installs MathJax 3, require.js and the
Jupyter widgets HTML manager and copies them into ``web_vendor/`` (git-ignored; see
``_ext/vendor_assets.mjs``). When that folder is complete, this extension

- points Sphinx's ``mathjax_path`` and myst-nb's ``nb_ipywidgets_js`` at local copies,
- copies the files the pages use into ``_build/html/_static/book-vendor/`` after the build,
- adds ``_ext/static/book-a11y.css`` (accessibility fixes for the theme) and
  ``_ext/static/book-mobile.css`` + ``.js`` (wide equations and tables scroll with a
  visible cue: scrollbar, shadow, faded edge),
- turns off pydata-sphinx-theme's header bar (see :data:`THEME_OPTIONS`),
- links every page to the book's PDF (``make pdf``, ``_ext/book_pdf.py``): a footer line
  and an entry in the download menu,
- drops repeated inline scripts from each page: sphinx-thebe registers its
  ``const THEBE_JS_URL = ...`` snippet twice, and the second copy is a JavaScript error
  ("Identifier 'THEBE_JS_URL' has already been declared") in every page's console.

The source folder is deliberately *not* ``_static/``: Jupyter Book 1 injects every ``.js``
under the book's ``_static/`` into every page.

When ``web_vendor/`` is missing (no npm on this machine), the build still succeeds with
the CDN defaults and prints one line saying so. Enabled in ``_config.yml`` under
``sphinx.local_extensions``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
#: URL paths below ``_static/`` (Sphinx adds the ``_static/`` prefix itself)
MATHJAX = "book-vendor/mathjax/tex-mml-chtml.js"
REQUIREJS = "book-vendor/requirejs/require.js"
WIDGETS = "book-vendor/html-manager/embed-amd.js"

#: inline script between require.js and the widget manager (pages with widgets only):
#: 1. the manager finds its icon fonts next to the AMD module it defines, whose URL
#:    require.js derives from the module name; map that name to the vendored folder;
#: 2. @jupyter-widgets/base typesets labels with the MathJax 2 API (MathJax.Hub.Queue);
#:    give MathJax 3 that one method (the manager renders on "load", after this runs).
WIDGETS_SETUP = """(function () {
  var s = document.querySelector('script[src*="book-vendor/requirejs/require.js"]');
  var dir = s.src.replace(/requirejs\\/require\\.js.*$/, "html-manager");
  require.config({paths: {"@jupyter-widgets/html-manager/dist": dir}});
  window.addEventListener("load", function () {
    var mj = window.MathJax;
    if (mj && mj.version && !mj.Hub) {
      mj.Hub = {Queue: function (cmd) {
        var el = Array.isArray(cmd) ? cmd[2] : null;
        if (el && mj.typesetPromise) {
          mj.startup.promise.then(function () { return mj.typesetPromise([el]); });
        }
      }};
    }
  });
})();"""

#: html_theme_options the book sets itself (jupyter-book's _config.yml has no key for them).
#: pydata-sphinx-theme 0.17 defaults ``navbar_persistent`` to ``["search-button-field"]``
#: unless the *user* sets it (sphinx-book-theme 1.3.0 empties it only in its theme.conf,
#: which that check does not see). A non-empty navbar renders PST's own header bar
#: (``#pst-header``): a second search box above the book's, and a second ``.primary-toggle``
#: button before the book's. PST binds its mobile sidebar dialog (and sphinx-book-theme its
#: desktop collapse) with ``document.querySelector(".primary-toggle")``, i.e. to the hidden
#: header button, so the visible toggle did nothing on phones
#: (pydata/pydata-sphinx-theme#2451, executablebooks/sphinx-book-theme#999).
#: With every navbar slot empty the header bar is not rendered at all: one search box,
#: one toggle, and both themes' handlers land on it.
THEME_OPTIONS = {"navbar_persistent": [], "navbar_start": [], "navbar_center": [],
                 "navbar_end": []}

#: what the site needs from web_vendor/: (folder, names to copy; None = everything)
SITE_ASSETS = {
    # the combined component plus the parts it loads lazily (fonts, a11y, menu, sre)
    "mathjax": ["tex-mml-chtml.js", "a11y", "adaptors", "input", "output", "sre", "ui"],
    "requirejs": ["require.js"],
    # embed-amd.js bundles base, controls and output widgets; the font files are its icons
    "html-manager": None,
}
SKIP_SUFFIXES = (".map",)
SKIP_NAMES = {"embed.js", "embed.js.LICENSE.txt", "libembed-amd.js"}
REQUIRED = ("mathjax/tex-mml-chtml.js", "requirejs/require.js", "html-manager/embed-amd.js")


def vendor_dir(app: Sphinx) -> Path:
    """``web_vendor/`` next to the book's source, else in the repository root."""
    for candidate in (Path(app.srcdir) / "web_vendor", HERE.parent / "web_vendor"):
        if candidate.is_dir():
            return candidate
    return Path(app.srcdir) / "web_vendor"


def missing_assets(vendor: Path) -> list[str]:
    """Files of :data:`REQUIRED` that ``vendor`` lacks (empty list = ready)."""
    return [name for name in REQUIRED if not (vendor / name).is_file()]


def _on_config_inited(app: Sphinx, config) -> None:
    vendor = vendor_dir(app)
    missing = missing_assets(vendor)
    config.html_static_path = list(config.html_static_path) + [str(HERE / "static")]
    app.add_css_file("book-a11y.css")
    app.add_css_file("book-mobile.css")
    app.add_js_file("book-mobile.js", defer="defer")
    config.html_theme_options = {**THEME_OPTIONS, **dict(config.html_theme_options or {})}
    app.add_js_file("book-a11y.js", defer="defer")
    # pydata-sphinx-theme logs a console error "Got invalid theme mode: ." when unset
    config.html_context = {"default_mode": "auto", **dict(config.html_context)}
    if missing:
        app.offline_assets_ok = False
        print(
            "offline_assets: web_vendor/ is missing or incomplete (run `npm ci`; missing: "
            + ", ".join(missing)
            + "): MathJax and the widget scripts will load from the CDN, "
            "so the site is NOT self-contained and the browser tests will fail.",
            flush=True,
        )
        return
    app.offline_assets_ok = True
    config.mathjax_path = MATHJAX
    config.nb_ipywidgets_js = {REQUIREJS: {}, "": {"body": WIDGETS_SETUP}, WIDGETS: {}}
    print("offline_assets: MathJax, require.js and the widget manager are served from "
          "_static/book-vendor/ (no CDN)", flush=True)


def _copy_item(src: Path, dst: Path) -> int:
    """Copy a file or a folder tree, skipping source maps; return the number of files."""
    if src.is_file():
        if src.suffix in SKIP_SUFFIXES or src.name in SKIP_NAMES:
            return 0
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists() or dst.stat().st_size != src.stat().st_size \
                or dst.stat().st_mtime < src.stat().st_mtime:
            shutil.copy2(src, dst)
        return 1
    return sum(_copy_item(child, dst / child.name) for child in sorted(src.iterdir()))


def _on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html" or not app.offline_assets_ok:
        return
    vendor = vendor_dir(app)
    dest = Path(app.outdir) / "_static" / "book-vendor"
    count = 0
    for folder, names in SITE_ASSETS.items():
        items = sorted((vendor / folder).iterdir()) if names is None \
            else [vendor / folder / n for n in names]
        for item in items:
            count += _copy_item(item, dest / folder / item.name)
    logger.info("offline_assets: %d vendored files in %s", count, dest)


def _dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict,
                    doctree) -> None:
    """Keep the first of several identical ``<script>`` entries of a page."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, kept = set(), []
    for js in scripts:
        key = (str(getattr(js, "filename", js) or ""),  # None and "" both mean inline
               tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


#: myst-nb's toggle of a hidden cell input names itself "Toggle hidden content" while it
#: shows "Show code cell source": a screen reader and a voice user hear different names
#: (axe: label-content-name-mismatch). Without the label, the visible text is the name.
_TOGGLE_LABEL = '<summary aria-label="Toggle hidden content">'


def _accessible_toggles(app: Sphinx, pagename: str, templatename: str, context: dict,
                        doctree) -> None:
    body = context.get("body")
    if isinstance(body, str) and _TOGGLE_LABEL in body:
        context["body"] = body.replace(_TOGGLE_LABEL, "<summary>")


#: the whole book as one PDF (``make pdf``, _ext/book_pdf.py), at the site's root
PDF_NAME = "backprop-linear-layer.pdf"
PDF_FOOTER = ('<p class="book-pdf-link"><a href="{url}" download><i class="fas fa-file-pdf" '
              'aria-hidden="true"></i> The whole book as one PDF</a>, for reading offline.</p>')


def _link_pdf(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Link every page of the website to the book's PDF: in the footer, and in the
    download menu next to sphinx-book-theme's per-page entries (not in the singlehtml
    page the PDF is printed from)."""
    if app.builder.name != "html" or "pathto" not in context:
        return
    url = context["pathto"](PDF_NAME, 1)
    context["theme_extra_footer"] = (context.get("theme_extra_footer") or "") + PDF_FOOTER.format(url=url)
    for button in context.get("header_buttons") or []:
        if button.get("label") == "download-buttons":
            button["buttons"].append({
                "type": "link", "url": url, "text": "book .pdf", "icon": "fas fa-book",
                "tooltip": "Download the whole book as one PDF",
                "label": "download-book-pdf-button",
            })


def _hidden_inputs_in_singlehtml(app: Sphinx) -> None:
    """myst-nb registers its hidden-input toggle for the ``html`` format only; once another
    extension registers any node for ``singlehtml`` (sphinx-exercise does), Sphinx looks
    up that builder's handlers by its name and the toggle has none: ``make pdf``'s
    singlehtml build stopped with "unknown node type: HideCodeCellNode"."""
    from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput, visit_HideCellInput

    app.add_node(HideCodeCellNode, override=True,
                 singlehtml=(visit_HideCellInput, depart_HideCellInput))


def setup(app: Sphinx) -> dict:
    app.offline_assets_ok = False
    app.connect("builder-inited", _hidden_inputs_in_singlehtml)
    # before myst-nb reads nb_ipywidgets_js (builder-inited) and before pages are written
    app.connect("config-inited", _on_config_inited, priority=400)
    app.connect("build-finished", _on_build_finished)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _accessible_toggles, priority=900)
    # after sphinx-book-theme's add_header_buttons (priority 501)
    app.connect("html-page-context", _link_pdf, priority=600)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
