"""``make pdf``: the whole book as one PDF, printed by Debian's Chromium from the singlehtml build.

    jupyter-book build . --builder singlehtml --all -W -n --keep-going   # _build/singlehtml/
    python _ext/book_pdf.py                # -> _build/pdf/<PDF_NAME>, copied into _build/html/

The singlehtml page holds every chapter and reference page with its executed outputs
(figures, code, printed numbers) and the same vendored MathJax as the site. This script
serves it on 127.0.0.1, opens it in Chromium (playwright with ``executable_path``; never
``playwright install``), blocks and reports every request to another host (nothing is
downloaded: the build fails if anything tried), waits until MathJax has typeset every
formula and every image has loaded, and then prepares the page for paper:

- a title page and a table of contents (chapters and their sections, linked; the PDF
  also gets an outline, i.e. bookmarks, from the headings),
- every chapter starts on a new page,
- solutions are printed open (on the site they are dropdowns),
- display equations wider than the text are scaled down to fit (not cut or scrolled),
- long code lines wrap,
- the site's navigation, buttons and search are left out.

Then ``page.pdf`` (A4, page numbers in the footer, tagged, with an outline) writes it.

Why Chromium and not Sphinx's LaTeX builder: the PDF shows exactly what the site shows
(the same MathJax, the same HTML outputs and widget snapshots, the same exercise and
solution boxes), it needs nothing beyond what the browser tests already need (Debian's
chromium, web_vendor/ from ``npm ci``), and nothing is downloaded. The price: typography
below LaTeX's (no hyphenation or page-number references in the contents, which links
instead; page breaks are the browser's), wide equations are shrunk to fit (the log says
how much), and the explorers print as their static snapshot. LaTeX would need a TeX Live
of ~1-2 GB from apt and would drop the HTML outputs (widgets, HTML tables) and
sphinx-exercise's dropdowns. ``jupyter-book build --builder pdfhtml`` would do what this
script does but launches playwright's own downloaded browser, which this machine lacks.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from offline_assets import PDF_NAME  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SOURCE = ROOT / "_build" / "singlehtml"
OUTPUT = ROOT / "_build" / "pdf" / PDF_NAME
SITE = ROOT / "_build" / "html"
#: CSS px of the A4 text column at 96 px/in: 210 mm - 2 x 16 mm margins
TEXT_WIDTH_PX = round((210 - 32) / 25.4 * 96)

PRINT_CSS = """
@page { size: A4; margin: 16mm 16mm 18mm 16mm; }
html, body { background: #fff !important; }
.bd-header, .bd-header-article, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer,
.bd-footer-article, .bd-footer-content, .prev-next-area, .header-article-items, .headerlink,
.search-button, .theme-switch-button, #pst-primary-sidebar-modal, #pst-secondary-sidebar-modal,
.skip-link, .copybtn, .toggle-button, button.toggle-button, .bd-header-announcement,
.book-pdf-link, .pst-async-banner-revealer, dialog, #jb-print-docs-body, .onlyprint { display: none !important; }
.bd-container, .bd-container__inner, .bd-main, .bd-content, .bd-article-container, .bd-article,
.bd-page-width { max-width: none !important; width: auto !important; margin: 0 !important;
  padding: 0 !important; display: block !important; }
.book-pdf-title { break-after: page; text-align: center; padding-top: 30vh; }
.book-pdf-heading { font-size: 2em; font-weight: 600; margin: 0 0 0.8em; }
.book-pdf-title .book-pdf-heading { font-size: 2.4em; }
.book-pdf-toc { break-after: page; }
.book-pdf-toc ol { list-style: none; padding-left: 0; }
.book-pdf-toc ol ol { padding-left: 1.5em; font-size: 0.95em; }
.book-pdf-toc li { margin: 0.15em 0; }
.book-pdf-toc a { color: inherit; text-decoration: none; }
.book-pdf-chapter { break-before: page; }
h1, h2, h3 { break-after: avoid; }
figure, img, .cell_output img, mjx-container[display="true"], table { break-inside: avoid; }
img { max-width: 100% !important; height: auto !important; }
pre, pre code { white-space: pre-wrap !important; word-break: break-word; overflow: visible !important; }
mjx-container[display="true"] { overflow: visible !important; background: none !important; }
.pst-scrollable-table-container { overflow: visible !important; background: none !important; }
.toggle-hidden { display: block !important; visibility: visible !important; height: auto !important; }
details.above-input, details.below-input { display: none !important; }
a { color: inherit; }
"""

#: front matter, solutions open, chapters on new pages, wide equations scaled to fit
PREPARE = r"""({title, author, date}) => {
  const main = document.querySelector('main') || document.body;
  const article = main.querySelector('article') || main;
  // solutions (sphinx-togglebutton): open them
  document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  document.querySelectorAll('.admonition.toggle').forEach(e => e.classList.add('toggle-shown'));
  // the documents of the book: the root page's section, then each document the
  // singlehtml builder appended (a <span id="document-..."> before its <section>)
  const docs = [article.querySelector('section')];
  article.querySelectorAll('span[id^="document-"]').forEach(sp => {
    let sec = sp.nextElementSibling;
    while (sec && sec.tagName !== 'SECTION') sec = sec.nextElementSibling;
    if (sec && !docs.includes(sec)) docs.push(sec);
  });
  const clean = (h) => {
    const c = h.cloneNode(true);
    c.querySelectorAll('.headerlink').forEach(e => e.remove());
    return c.textContent.replace(/\s+/g, ' ').trim();
  };
  const nav = document.createElement('nav');
  nav.className = 'book-pdf-toc';
  nav.innerHTML = '<p class="book-pdf-heading">Contents</p>';
  const ol = document.createElement('ol');
  const titles = [];
  docs.forEach((sec, i) => {
    if (!sec) return;
    if (i > 0) sec.classList.add('book-pdf-chapter');
    const h = sec.querySelector('h1, h2');
    if (!h) return;
    titles.push(clean(h));
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = '#' + sec.id;
    a.textContent = clean(h);
    li.appendChild(a);
    const sub = document.createElement('ol');
    sec.querySelectorAll(':scope > section').forEach(s2 => {
      const h2 = s2.querySelector(':scope > h2, :scope > h3');
      if (!h2 || !s2.id) return;
      const li2 = document.createElement('li');
      const a2 = document.createElement('a');
      a2.href = '#' + s2.id;
      a2.textContent = clean(h2);
      li2.appendChild(a2);
      sub.appendChild(li2);
    });
    if (sub.children.length) li.appendChild(sub);
    ol.appendChild(li);
  });
  nav.appendChild(ol);
  const front = document.createElement('div');
  front.className = 'book-pdf-title';
  front.innerHTML = '<p class="book-pdf-heading"></p><p class="author"></p><p class="date"></p>';
  front.querySelector('.book-pdf-heading').textContent = title;
  front.querySelector('.author').textContent = author;
  front.querySelector('.date').textContent = date;
  article.prepend(nav);
  article.prepend(front);
  return titles;
}"""

#: scale every display equation wider than its box down to fit (font size, in steps)
FIT_EQUATIONS = r"""() => {
  let scaled = 0, worst = 1;
  document.querySelectorAll('mjx-container[display="true"]').forEach(c => {
    const box = c.clientWidth || (c.parentElement && c.parentElement.clientWidth);
    const math = c.querySelector('mjx-math') || c;
    for (let k = 0; k < 6; k++) {
      const w = Math.max(c.scrollWidth, math.getBoundingClientRect().width);
      if (!box || w <= box + 1) break;
      const f = parseFloat(getComputedStyle(c).fontSize);
      c.style.fontSize = (f * box / w * 0.98) + 'px';
      if (k === 0) scaled++;
    }
    const f0 = parseFloat(getComputedStyle(c.parentElement).fontSize);
    worst = Math.min(worst, parseFloat(getComputedStyle(c).fontSize) / f0);
  });
  return {scaled, worst};
}"""

WAIT_READY = r"""async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    if (MathJax.typesetPromise) await MathJax.typesetPromise();
  }
  await Promise.all(Array.from(document.images).map(img => img.complete ? null :
    new Promise(r => { img.onload = img.onerror = r; })));
  if (document.fonts) await document.fonts.ready;
  const raw = document.querySelectorAll('main .math:not(:has(mjx-container))').length;
  const broken = Array.from(document.images).filter(i => !i.naturalWidth).map(i => i.src);
  return {formulas: document.querySelectorAll('main mjx-container').length, raw, broken};
}"""


def _find_page(source: Path) -> Path:
    """The singlehtml page: the largest .html at the top of ``source`` (not a redirect)."""
    pages = [p for p in source.glob("*.html") if p.name not in ("genindex.html", "search.html")]
    if not pages:
        raise SystemExit(f"book_pdf: no singlehtml build in {source} "
                         "(run: jupyter-book build . --builder singlehtml)")
    return max(pages, key=lambda p: p.stat().st_size)


def build_pdf(source: Path = SOURCE, output: Path = OUTPUT, chromium: str = CHROMIUM) -> dict:
    """Print the singlehtml build to ``output``; return what was found (for the log)."""
    from playwright.sync_api import sync_playwright
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    page_file = _find_page(source)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(source)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    external: list[str] = []
    errors: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": TEXT_WIDTH_PX, "height": 1100})

            def route(r):
                host = urlparse(r.request.url).hostname
                if urlparse(r.request.url).scheme in ("http", "https") and host != "127.0.0.1":
                    external.append(r.request.url)
                    r.abort()
                else:
                    r.continue_()

            context.route("**/*", route)
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/{page_file.name}",
                      wait_until="load", timeout=120_000)
            ready = page.evaluate(WAIT_READY)
            try:
                page.wait_for_load_state("networkidle", timeout=10_000)
            except Exception as exc:  # noqa: BLE001 - a slow widget must not stop the PDF
                print("book_pdf: the page kept the network busy for 10 s; printing anyway "
                      f"(every formula and image was ready) [{type(exc).__name__}]", flush=True)
            page.add_style_tag(content=PRINT_CSS)
            page.emulate_media(media="print")
            titles = page.evaluate(PREPARE, {
                "title": config.get("title", ""), "author": config.get("author", ""),
                "date": time.strftime("%Y-%m-%d")})
            page.wait_for_timeout(300)
            fit = page.evaluate(FIT_EQUATIONS)
            output.parent.mkdir(parents=True, exist_ok=True)
            page.pdf(path=str(output), format="A4", print_background=True, outline=True,
                     tagged=True, prefer_css_page_size=True, display_header_footer=True,
                     header_template="<span></span>",
                     footer_template='<div style="font-size:8px;width:100%;text-align:center;">'
                                     '<span class="pageNumber"></span> / <span class="totalPages">'
                                     '</span></div>')
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    if external:
        raise SystemExit("book_pdf: the page tried to download (blocked): " + ", ".join(external[:5]))
    if ready["raw"] or ready["broken"]:
        raise SystemExit(f"book_pdf: {ready['raw']} formulas not typeset, images not loaded: "
                         f"{ready['broken'][:5]}")
    return {"page": page_file.name, "formulas": ready["formulas"], "chapters": titles,
            "equations_scaled": fit["scaled"], "smallest_equation_scale": round(fit["worst"], 2),
            "page_errors": errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="the singlehtml build")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--site", default=str(SITE),
                        help="copy the PDF into this website folder (linked from every page); "
                             "'' to skip")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    info = build_pdf(args.source, args.output, args.chromium)
    print(f"book_pdf: {args.output} ({args.output.stat().st_size / 1e6:.1f} MB, "
          f"{len(info['chapters'])} chapters and reference pages, {info['formulas']} formulas, "
          f"{info['equations_scaled']} wide equations scaled to fit, smallest at "
          f"{info['smallest_equation_scale']:.0%}) in {time.perf_counter() - start:.0f} s", flush=True)
    for err in info["page_errors"]:
        print("book_pdf: page error:", err, flush=True)
    if args.site:  # also before the website is built: Sphinx leaves extra files alone
        site = Path(args.site)
        site.mkdir(parents=True, exist_ok=True)
        shutil.copy2(args.output, site / args.output.name)
        print(f"book_pdf: copied to {site / args.output.name} (the site links to it)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
