"""Machinery of the real-browser tests of the built site (``_build/html``).

Run by ``make test-browser`` (``pytest tests/browser``); ``conftest.py`` re-exports the
fixtures and the summary hook from here (a module with a unique name, so that it never
clashes with another ``conftest``).

Python playwright drives the system Chromium (``/usr/bin/chromium``; never
``playwright install``). The site is served from a local ``http.server`` thread on
127.0.0.1, and every request to any other host is blocked and reported.

Each page is loaded once per window width (:func:`visit`; :data:`VIEWPORTS`: a 1280 px
desktop and a 390 px phone); the tests in ``test_site.py`` then check what that visit
recorded. At both widths the visit also measures the layout (display equations and tables
that are wider than their box must scroll with a visible cue, exactly one search box) and
clicks the sidebar toggle (it must open the navigation on the phone and hide it on the
desktop). When Chromium, playwright, the built site or axe-core is missing the
tests are skipped with the reason -- except with ``CI=true``, where they fail, so that CI
can never pass without running them.

Screenshots (taken after the solutions were opened), at both widths in
``_build/screenshots/<width>px/<page>.png`` (``/`` in the page path becomes ``__``): the
whole page of the intro and chapter 5 (:data:`KEY_SCREENSHOTS`), the first screen of every
other chapter, and ``<page>.nav-open.png`` of the intro and chapter 5 at 390 px with the
navigation opened by the toggle. playwright's ``--hide-scrollbars`` default is turned off,
so scrollbars take room as in a reader's browser (the layout checks measure them).

``make test-browser`` runs the tests in two pytest-xdist workers (``--dist loadscope``, with
:func:`pytest_xdist_make_scheduler`): every test of one page at one width goes to the same
worker, so each page is still loaded once per width. Each visit is also written to
``_build/browser-visits/``, so that the summary (printed by the controller) counts every
worker's visits.

Environment: ``BOOK_HTML`` (default ``<repo>/_build/html``), ``CHROMIUM`` (default
``/usr/bin/chromium``), ``CI``.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = SITE.parent / "screenshots"
REPORT_FILE = SITE.parent / "browser-report.json"
#: one JSON file per visit, so that the summary can count the visits of every pytest-xdist
#: worker (``make test-browser`` runs two); emptied when a run starts
VISITS_DIR = SITE.parent / "browser-visits"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "web_vendor" / "axe-core" / "axe.min.js"
ON_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: window sizes every page is visited at (CSS px); 390 x 844 is a current phone
VIEWPORTS = {1280: {"width": 1280, "height": 900}, 390: {"width": 390, "height": 844}}
WIDTHS = tuple(VIEWPORTS)
DESKTOP, PHONE = 1280, 390
VIEWPORT = VIEWPORTS[DESKTOP]
#: pages whose screenshots the report lists (every page is shot; these are the ones to look at)
KEY_SCREENSHOTS = ("intro.html", "chapters/05_linear_layer.html")
LOCAL_HOSTS = {"127.0.0.1"}
NO_SITE = "(no built site)"


def site_pages() -> list[str]:
    """Every HTML page of the site, as paths relative to ``SITE``.

    Leaves out Sphinx's asset folders (``_static``, ``_sources``, ``_images``...) and
    redirect stubs (Jupyter Book's ``index.html`` only forwards to the root page).
    """
    if not (SITE / "index.html").is_file():
        return []
    pages = []
    for path in sorted(SITE.rglob("*.html")):
        rel = path.relative_to(SITE)
        if any(part.startswith("_") for part in rel.parts[:-1]):
            continue
        head = path.read_text(errors="replace")[:2000].lower()
        if 'http-equiv="refresh"' in head:
            continue
        pages.append(rel.as_posix())
    return pages


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "python package playwright is not installed"
    if not (SITE / "index.html").is_file():
        return f"no built site at {SITE} (run `make book` first)"
    return None


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason``; under ``CI=true`` fail instead."""
    SKIPPED.add(reason)
    if ON_CI:
        pytest.fail(f"browser tests cannot run: {reason} (CI=true: they must not be skipped)",
                    pytrace=False)
    pytest.skip(reason)


SKIPPED: set[str] = set()


@dataclass
class PageReport:
    """What one visit of one page recorded."""

    page: str
    width: int = DESKTOP
    load_seconds: float = 0.0
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    math_elements: int = 0
    mathjax_containers: int = 0
    raw_math: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    solutions: list[dict] = field(default_factory=list)
    launch_links: list[str] = field(default_factory=list)
    is_notebook: bool = False
    axe_serious: list[dict] = field(default_factory=list)
    axe_other: list[str] = field(default_factory=list)
    screenshot: str = ""
    equations: list[dict] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    search_boxes: list[str] = field(default_factory=list)
    page_scroll_width: int = 0
    toggle: dict = field(default_factory=dict)
    explorer: dict = field(default_factory=dict)


REPORTS: dict[tuple[str, int], PageReport] = {}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


@pytest.fixture(scope="session")
def base_url():
    """Serve ``SITE`` on a free 127.0.0.1 port for the whole session."""
    reason = unavailable()
    if reason:
        skip_or_fail(reason)
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser(base_url):
    """Headless system Chromium, shared by all tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # playwright hides scrollbars in headless Chromium by default; the layout checks
        # and the screenshots need them drawn as a reader's browser draws them
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                     ignore_default_args=["--hide-scrollbars"])
        yield browser
        browser.close()


def new_context(browser, external: list[str], width: int = DESKTOP):
    """A fresh browser context that blocks (and records) every non-local request."""
    phone = width < 768
    context = browser.new_context(viewport=VIEWPORTS.get(width, {"width": width, "height": 900}),
                                  service_workers="block", has_touch=phone,
                                  device_scale_factor=1)

    def route(r):
        url = r.request.url
        parsed = urlparse(url)
        if parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname not in LOCAL_HOSTS:
            external.append(url)
            r.abort()
        else:
            r.continue_()

    context.route("**/*", route)
    return context


WAIT_FOR_MATH = """async () => {
  if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
    await window.MathJax.startup.promise;
  }
  return true;
}"""

RAW_MATH = r"""() => {
  const root = document.querySelector('main') || document.body;
  const copy = root.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, mjx-container, textarea, .highlight')
      .forEach(e => e.remove());
  const text = copy.textContent;
  const found = [];
  for (const token of ['$$', '\\(', '\\)', '\\[', '\\]', '\\begin{']) {
    const i = text.indexOf(token);
    if (i >= 0) found.push(token + ' in "' + text.slice(Math.max(0, i - 40), i + 40).replace(/\s+/g, ' ') + '"');
  }
  return found;
}"""

IMAGES = """() => Array.from(document.querySelectorAll('img')).map(img => ({
  src: img.getAttribute('src') || '',
  alt: img.getAttribute('alt'),
  width: img.getBoundingClientRect().width,
  naturalWidth: img.naturalWidth,
  inContent: !!img.closest('main') && !!img.closest('figure, .cell_output, .output'),
}))"""

AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
    count: v.nodes.length,
  }));
}"""


#: Display equations and tables: for each rendered one, the box that shows it (the element
#: itself or the nearest ancestor that clips horizontally), whether its content is wider
#: than that box, and what the reader sees of it: a scrollbar that takes room (height in
#: px) and a shadow gradient. Also: whether the box itself sticks out of the window.
LAYOUT = r"""() => {
  const clips = (e) => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(e).overflowX);
  const visible = (e) => e.checkVisibility ? e.checkVisibility() : e.getClientRects().length > 0;
  const describe = (el, content, label) => {
    let box = el;
    while (box && box !== document.body && !clips(box)) box = box.parentElement;
    if (!box || box === document.body) box = null;
    const cs = box ? getComputedStyle(box) : null;
    const r = (box || el).getBoundingClientRect();
    const bw = box ? parseFloat(cs.borderTopWidth) + parseFloat(cs.borderBottomWidth) : 0;
    return {
      what: label,
      content: Math.round(content),
      box: box ? box.clientWidth : null,
      overflow: box ? cs.overflowX : 'none',
      scrollbar: box ? Math.round(box.offsetHeight - box.clientHeight - bw) : 0,
      shadow: box ? /gradient/.test(cs.backgroundImage) : false,
      fade: box ? /gradient/.test(cs.maskImage || cs.webkitMaskImage || '') : false,
      left: Math.round(r.left), right: Math.round(r.right),
    };
  };
  const eqs = [];
  document.querySelectorAll('main mjx-container[display="true"]').forEach((c, i) => {
    if (!visible(c)) return;
    const math = c.querySelector('mjx-math') || c;
    const tex = (c.parentElement && c.parentElement.textContent || '').trim().slice(0, 60);
    eqs.push(describe(c, Math.max(c.scrollWidth, math.getBoundingClientRect().width),
                      `equation ${i + 1}: ${tex}`));
  });
  const tables = [];
  document.querySelectorAll('main table').forEach((t, i) => {
    if (!visible(t)) return;
    const cap = (t.querySelector('caption') || t.querySelector('th, td') || t).textContent;
    tables.push(describe(t, t.getBoundingClientRect().width,
                         `table ${i + 1}: ${cap.trim().replace(/\s+/g, ' ').slice(0, 50)}`));
  });
  const search = Array.from(document.querySelectorAll(
      '.search-button__button, .search-button-field, form.bd-search, input[type="search"]'))
    .filter(e => !e.closest('dialog, article, .bd-search-container') && visible(e) && e.getBoundingClientRect().width > 0)
    .filter((e, i, all) => !all.some(o => o !== e && o.contains(e)))
    .map(e => e.className || e.tagName);
  return {eqs, tables, search, pageWidth: document.documentElement.scrollWidth};
}"""


#: whether the primary sidebar's navigation shows (one of its first five links is visible,
#: as playwright's is_visible() defines it: a non-empty box and not visibility: hidden)
NAV_SHOWN = """() => {
  const links = Array.from(document.querySelectorAll(
      '#pst-primary-sidebar .bd-docs-nav a, #pst-primary-sidebar-modal .bd-docs-nav a')).slice(0, 5);
  return links.some(a => { const r = a.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(a).visibility !== 'hidden'; });
}"""


def _toggle(page, width: int) -> dict:
    """Click the visible primary-sidebar toggle; report whether the navigation opened/closed.

    On a phone the navigation is hidden until the toggle opens it (pydata-sphinx-theme moves
    it into ``#pst-primary-sidebar-modal``, a ``<dialog>``); on the desktop it is shown and the
    toggle hides it (sphinx-book-theme's collapse). After the click the state is read as soon
    as it changed, or after 3 s when it does not change (the test then fails).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    toggles = page.locator(".primary-toggle")
    visible = [k for k in range(toggles.count()) if toggles.nth(k).is_visible()]
    before = page.evaluate(NAV_SHOWN)
    out = {"toggles": toggles.count(), "visible_toggles": len(visible), "before": before}
    if not visible:
        return out
    page.evaluate("() => window.scrollTo(0, 0)")
    toggles.nth(visible[0]).click()
    try:
        page.wait_for_function(f"() => ({NAV_SHOWN})() !== {str(before).lower()}", timeout=3_000)
    except PlaywrightTimeout:
        pass  # recorded below as "after == before": test_sidebar_toggle_works fails
    out["after"] = page.evaluate(NAV_SHOWN)
    out["dialog_open"] = page.evaluate(
        "() => !!document.querySelector('#pst-primary-sidebar-modal[open]')")
    return out


#: each sphinx-exercise solution: its id, whether it is a dropdown, the parts of its body (all but the title
#: and togglebutton's button) and whether every / any of them is visible (as in NAV_SHOWN)
SOLUTION_STATE = """() => Array.from(document.querySelectorAll('main .solution')).map((sol, i) => {
  const body = Array.from(sol.children).filter(e => !e.matches('.admonition-title, button'));
  const shown = e => { const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
  return {id: sol.id || `solution #${i}`, dropdown: sol.classList.contains('dropdown'),
          parts: body.length, any: body.some(shown), all: body.length > 0 && body.every(shown)};
})"""


def _solutions(page) -> list[dict]:
    """Each sphinx-exercise solution: hidden before a click on its title, shown after.

    Every title is clicked (a real click, as a reader's), then the state is read once all
    bodies show, or after 5 s if some never do (the test then fails). togglebutton fades a
    body in over 0.3 s (opacity only): one short wait afterwards, for the screenshots.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    before = page.evaluate(SOLUTION_STATE)
    titles = page.locator("main .solution > .admonition-title")
    for k in range(titles.count()):
        titles.nth(k).click()
    if before:
        try:
            page.wait_for_function(f"() => ({SOLUTION_STATE})().every(s => s.all)", timeout=5_000)
        except PlaywrightTimeout:
            pass  # recorded below: test_solutions_collapsed_until_clicked fails
        page.wait_for_timeout(350)
    after = page.evaluate(SOLUTION_STATE)
    return [{"id": b["id"], "dropdown": b["dropdown"], "body_parts": b["parts"],
             "visible_before": b["any"], "visible_after": a["all"]}
            for b, a in zip(before, after)]


#: page -> (control, value to set) for each explorer of the book, in order; the desktop
#: visit of the page makes these moves and records what the frame did (test_explorers.py)
EXPLORERS = {
    "chapters/03_jacobian.html": [("activation", "tanh"), ("n", "3")],
    "chapters/05_linear_layer.html": [("wrt", "b"), ("N", "3"), ("order", "row")],
    "chapters/07_mlp.html": [("step", "4"), ("button", "-1")],
}

#: the explorer's frame: its file, alt text, whether it loaded, and a hash of its pixels
EXPLORER_STATE = """(box) => {
  const img = box.querySelector('img.book-explorer-frame');
  return {src: img.getAttribute('src'), alt: img.getAttribute('alt'),
          loaded: img.complete && img.naturalWidth > 0,
          pixels: (() => { const c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, c.width, c.height).data;
            let h = 0; for (let i = 0; i < d.length; i += 97) { h = (h * 31 + d[i]) >>> 0; }
            return c.width + 'x' + c.height + ':' + h; })()};
}"""


def _explorer(page, moves) -> dict:
    """Make each move of :data:`EXPLORERS` on the page's explorer; record each frame.

    ``changed`` is whether a new frame (another file, loaded) appeared within 10 s.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    boxes = page.locator(".book-explorer.book-explorer-ready")
    out = {"ready": boxes.count(), "snapshots": page.locator(".jupyter-widgets").count(),
           "states": [], "moves": []}
    if out["ready"] != 1:
        return out
    box = boxes.first
    box.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('img.book-explorer-frame').complete")
    out["states"].append(box.evaluate(EXPLORER_STATE))
    for name, value in moves:
        if name == "button":
            box.locator(f'button[data-move="{value}"]').click()
        else:
            control = box.locator(f'[name="{name}"]')
            if control.evaluate("e => e.tagName") == "SELECT":
                control.select_option(value)
            else:
                control.fill(value)          # a range input: sets the value, fires input
        try:
            page.wait_for_function(
                "(src) => { const i = document.querySelector('img.book-explorer-frame');"
                " return i.getAttribute('src') !== src && i.complete && i.naturalWidth > 0; }",
                arg=out["states"][-1]["src"], timeout=10_000)
            changed = True
        except PlaywrightTimeout:
            changed = False
        out["moves"].append({"control": name, "value": value, "changed": changed})
        out["states"].append(box.evaluate(EXPLORER_STATE))
    return out


def screenshot_path(rel: str, width: int) -> Path:
    """``_build/screenshots/<width>px/<page path with / as __>.png``."""
    return SCREENSHOTS / f"{width}px" / (Path(rel).with_suffix("").as_posix().replace("/", "__") + ".png")


def visit(browser, base_url: str, rel: str, width: int = DESKTOP) -> PageReport:
    """Load one page once per width and record everything the tests check (cached)."""
    if (rel, width) in REPORTS:
        return REPORTS[(rel, width)]
    rep = PageReport(page=rel, width=width)
    open("/tmp/visitlog", "a").write(f"{os.getpid()} {rel} {width}\n")
    context = new_context(browser, rep.external_requests, width)
    page = context.new_page()
    page.on("console", lambda m: rep.console_errors.append(f"{m.text} ({m.location.get('url', '')})")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: rep.console_errors.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: None if r.url in rep.external_requests
            else rep.failed_requests.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: rep.failed_requests.append(f"{r.url}: HTTP {r.status}")
            if r.status >= 400 else None)
    try:
        start = time.perf_counter()
        page.goto(f"{base_url}/{rel}", wait_until="load", timeout=60_000)
        page.evaluate(WAIT_FOR_MATH)
        rep.load_seconds = time.perf_counter() - start
        if page.locator(".book-explorer").count():
            page.wait_for_selector(".book-explorer.book-explorer-ready", timeout=15_000)
        elif page.locator('script[type="application/vnd.jupyter.widget-state+json"]').count():
            page.wait_for_selector(".jupyter-widgets", timeout=15_000)
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            # under CI's load (unit tests beside these) the longest chapter has been seen not
            # to go idle for 90 s, though on a quiet machine it is idle after 4 s with no
            # request after the first 5 s: a timeout here is printed, not failed. A request
            # that fails or returns >= 400 is still a failure (failed_requests, above).
            page.wait_for_load_state("networkidle", timeout=60_000)
        except PlaywrightTimeout:
            print(f"note: {rel} at {width} px: network not idle within 60 s (machine load?)")
        rep.math_elements = page.locator("main .math").count()
        rep.mathjax_containers = page.locator("main mjx-container").count()
        rep.raw_math = page.evaluate(RAW_MATH)
        rep.images = page.evaluate(IMAGES)
        rep.launch_links = page.evaluate(
            """() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)
                 .filter(h => h.includes('mybinder.org') || h.includes('colab.research.google.com'))""")
        rep.is_notebook = (SITE / "_sources" / Path(rel).with_suffix(".ipynb")).is_file()
        rep.solutions = _solutions(page)
        # measured with the solutions open, so that their equations are measured too, and
        # before any full-page screenshot: playwright hides the scrollbars to take one
        # and Chromium does not draw them again on that page
        layout = page.evaluate(LAYOUT)
        rep.equations, rep.tables = layout["eqs"], layout["tables"]
        rep.search_boxes, rep.page_scroll_width = layout["search"], layout["pageWidth"]
        if AXE.is_file():  # after opening the solutions, so that their content is checked too
            page.add_script_tag(path=str(AXE))
            for v in page.evaluate(AXE_RUN):
                if v["impact"] in ("serious", "critical"):
                    rep.axe_serious.append(v)
                else:
                    rep.axe_other.append(f"{v['id']} ({v['impact']}, {v['count']} nodes)")
        if rel.startswith("chapters/") or rel in KEY_SCREENSHOTS:  # (solutions open)
            shot = screenshot_path(rel, width)
            shot.parent.mkdir(parents=True, exist_ok=True)
            # the whole page for the key pages; the first screen for the other chapters
            # (a full-page shot of a long chapter costs Chromium 1-4 s of CPU per width)
            page.screenshot(path=str(shot), full_page=rel in KEY_SCREENSHOTS)
            rep.screenshot = str(shot)
        if width == DESKTOP and rel in EXPLORERS:  # after the screenshot: it moves them
            rep.explorer = _explorer(page, EXPLORERS[rel])
        rep.toggle = _toggle(page, width)  # last: it opens a modal dialog
        if rel in KEY_SCREENSHOTS and rep.toggle.get("after") and width < 992:
            page.wait_for_timeout(400)  # the dialog's opening animation, for the picture
            page.screenshot(path=str(screenshot_path(rel, width).with_suffix(".nav-open.png")))
    finally:
        context.close()
    REPORTS[(rel, width)] = rep
    VISITS_DIR.mkdir(parents=True, exist_ok=True)
    (VISITS_DIR / f"{screenshot_path(rel, width).stem}@{width}.json").write_text(
        json.dumps(asdict(rep)))
    return rep


@pytest.fixture
def report(browser, base_url, request):
    """The visit of ``request.param`` = (page, width): loaded once per worker, then cached."""
    rel, width = request.param
    if rel == NO_SITE:
        skip_or_fail(unavailable() or f"no pages found in {SITE}")
    return visit(browser, base_url, rel, width)


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")  # a pytest-xdist worker, not the controller


def pytest_sessionstart(session):
    """The controller (or a run without xdist) empties the visit records of the last run."""
    if not _is_worker(session.config) and VISITS_DIR.is_dir():
        for f in VISITS_DIR.glob("*.json"):
            f.unlink()


def pytest_xdist_make_scheduler(config, log):
    """With ``--dist loadscope``: every test of one visit (parametrized by the ``report``
    fixture, id ``[page@<width>px]``, in any file) is one scope, so one worker runs them all
    and loads that page once; the other tests are each a scope of their own. (xdist's ``loadgroup`` would do this with marks, but
    pytest-xdist 3.8 renames node ids in a way pytest 9.2 no longer reads.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByVisit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.endswith("px]") and "@" in nodeid[nodeid.rindex("["):]:
                return nodeid[nodeid.rindex("[") + 1:-1]
            return nodeid

    return ByVisit(config, log)


def _all_visits() -> list[PageReport]:
    """This run's visits, from every worker."""
    out = []
    for f in sorted(VISITS_DIR.glob("*.json")) if VISITS_DIR.is_dir() else []:
        out.append(PageReport(**json.loads(f.read_text())))
    return out


def site_size_bytes() -> int:
    return sum(p.stat().st_size for p in SITE.rglob("*") if p.is_file())


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the page count, slowest page and site size; write _build/browser-report.json."""
    tr = terminalreporter
    if _is_worker(config):
        return
    visits = {(r.page, r.width): r for r in _all_visits()}
    skipped = SKIPPED | ({unavailable()} if unavailable() else set())
    if skipped and not visits:
        verdict = "FAILED (CI=true: may not skip)" if ON_CI else "skipped"
        tr.write_sep("=", f"BROWSER TESTS {verdict.upper()}", yellow=not ON_CI, red=ON_CI, bold=True)
        for reason in sorted(skipped):
            tr.write_line(f"browser tests {verdict}: {reason}")
        return
    if not visits:
        return
    slowest = max(visits.values(), key=lambda r: r.load_seconds)
    size = site_size_bytes()
    serious = sum(len(r.axe_serious) for r in visits.values())
    tr.write_sep("=", "browser tests")
    widths = sorted({r.width for r in visits.values()}, reverse=True)
    tr.write_line(f"browser tests: {len(visits)} page visits in Chromium at "
                  f"{' and '.join(f'{w} px' for w in widths)} (site has {len(site_pages())} pages)")
    tr.write_line(f"slowest page: {slowest.page} at {slowest.width} px "
                  f"({slowest.load_seconds:.2f} s to load + typeset math)")
    wide = sum(1 for r in visits.values() for e in r.equations if e["content"] > (e["box"] or 0) + 1)
    tr.write_line(f"display equations wider than their box (scrolling with a cue): {wide} "
                  f"over all visits")
    tr.write_line(f"site size: {size / 1e6:.1f} MB in {SITE}")
    tr.write_line(f"axe-core: {serious} serious/critical violation types "
                  f"over {len(visits)} pages")
    if SCREENSHOTS.is_dir():
        tr.write_line(f"screenshots: {SCREENSHOTS}")
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(json.dumps({
        "pages": len(visits), "site_bytes": size,
        "slowest": {"page": slowest.page, "width": slowest.width,
                    "seconds": round(slowest.load_seconds, 3)},
        "reports": [asdict(r) for r in visits.values()],
    }, indent=1))
