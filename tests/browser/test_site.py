"""Every page of the built site, checked in a real browser (see conftest.py).

One visit per page and window width (1280 px desktop, 390 px phone) records console
messages, requests, math, images, solutions, launch links, axe-core's findings, the layout
of display equations and tables, the search boxes and what the sidebar toggle does; each
test below checks one of those for one page at one width.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from site_browser import (AXE, DESKTOP, KEY_SCREENSHOTS, NO_SITE, PHONE, ROOT, SITE, VIEWPORTS,
                          WIDTHS, new_context, screenshot_path, skip_or_fail, site_pages,
                          unavailable)

PAGES = site_pages() or [NO_SITE]
#: one parameter per visit; site_browser.pytest_xdist_make_scheduler sends every test of
#: one visit to the same pytest-xdist worker, which loads that page once
VISITS = [pytest.param((p, w), id=f"{p}@{w}px") for p in PAGES for w in WIDTHS]
#: a box's content may exceed its width by this much (sub-pixel rounding) without a cue
SLACK_PX = 2
#: the least room a scrollbar under a wide equation or table must take to count as visible
MIN_SCROLLBAR_PX = 4
#: smallest rendered width (CSS px) of a figure in the text, by window width
MIN_FIGURE_WIDTH = {DESKTOP: 300, PHONE: 300}


def _config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())


def pages(fn):
    """Run the test for every page at every width of :data:`site_browser.VIEWPORTS`."""
    return pytest.mark.parametrize("report", VISITS, indirect=True)(fn)


@pages
def test_no_console_errors(report):
    assert report.console_errors == [], f"{report.page}: console errors"


@pages
def test_no_failed_requests(report):
    assert report.failed_requests == [], f"{report.page}: failed requests"


@pages
def test_no_request_leaves_the_machine(report):
    assert report.external_requests == [], (
        f"{report.page}: requests to other hosts (is web_vendor/ installed? run `npm ci`)")


@pages
def test_math_is_rendered(report):
    assert report.raw_math == [], f"{report.page}: unrendered TeX in the text"
    if report.math_elements:
        assert report.mathjax_containers >= report.math_elements, (
            f"{report.page}: {report.math_elements} math elements but only "
            f"{report.mathjax_containers} rendered by MathJax")


@pages
def test_images_have_alt_text(report):
    missing = [img["src"] for img in report.images if not (img["alt"] or "").strip()]
    assert missing == [], f"{report.page}: images without alt text"


@pages
def test_figures_are_legible(report):
    small = [f"{img['src']} ({img['width']:.0f} px)" for img in report.images
             if img["inContent"] and img["width"] < MIN_FIGURE_WIDTH[report.width]]
    assert small == [], (f"{report.page} at {report.width} px: figures narrower than "
                         f"{MIN_FIGURE_WIDTH[report.width]} px")
    broken = [img["src"] for img in report.images if img["naturalWidth"] == 0]
    assert broken == [], f"{report.page}: images that did not load"


@pages
def test_solutions_collapsed_until_clicked(report):
    for sol in report.solutions:
        assert sol["dropdown"], f"{report.page}: solution {sol['id']} is not a dropdown"
        assert sol["body_parts"] > 0, f"{report.page}: solution {sol['id']} is empty"
        assert not sol["visible_before"], f"{report.page}: solution {sol['id']} shown before a click"
        assert sol["visible_after"], f"{report.page}: solution {sol['id']} did not open on click"


@pages
def test_launch_buttons(report):
    """Notebook pages link to the same notebook on Binder and on Colab."""
    if not report.is_notebook:
        assert report.launch_links == [], f"{report.page}: launch links on a page that is no notebook"
        return
    repo = urlparse(_config()["repository"]["url"]).path.strip("/")
    notebook = Path(report.page).with_suffix(".ipynb").as_posix()
    binder = [h for h in report.launch_links if "mybinder.org" in h]
    colab = [h for h in report.launch_links if "colab.research.google.com" in h]
    assert binder, f"{report.page}: no Binder launch button"
    assert colab, f"{report.page}: no Colab launch button"
    for href in binder + colab:
        assert f"/{repo}/" in href, f"{href} does not point at the repository {repo}"
        assert href.endswith(notebook) or notebook in href, f"{href} does not open {notebook}"
    assert any(h.startswith(f"https://colab.research.google.com/github/{repo}/blob/") for h in colab)
    assert any(h.startswith(f"https://mybinder.org/v2/gh/{repo}/") for h in binder)


@pages
def test_accessibility_axe(report):
    if not AXE.is_file():
        skip_or_fail(f"axe-core not found at {AXE} (run `npm ci`)")
    details = [f"{v['id']} ({v['impact']}): {v['help']} -- {v['count']} nodes, e.g. {v['nodes'][:2]}"
               for v in report.axe_serious]
    assert details == [], f"{report.page}: serious or critical accessibility violations"


def _hidden_without_cue(items: list[dict], shadow_counts: bool = True) -> list[str]:
    """Boxes whose content is wider than the box and that do not visibly scroll.

    Visibly: a scrollbar that takes room, and a faded right edge (the box starts scrolled
    to the left) -- or, where nothing paints over the box's background (equations, not
    tables: their cells do), a scroll shadow instead of the fade.
    """
    bad = []
    for it in items:
        if it["box"] is None:
            continue  # nothing clips it: test_nothing_sticks_out_of_the_window catches it
        if it["content"] <= it["box"] + SLACK_PX:
            continue
        problems = []
        if it["overflow"] not in ("auto", "scroll"):
            problems.append(f"overflow-x: {it['overflow']} (clipped, cannot scroll)")
        if it["scrollbar"] < MIN_SCROLLBAR_PX:
            problems.append(f"no visible scrollbar ({it['scrollbar']} px)")
        if not (it["fade"] or (shadow_counts and it["shadow"])):
            problems.append("no faded edge" + ("" if not shadow_counts else " or scroll shadow"))
        if problems:
            bad.append(f"{it['what']}: {it['content']} px in a {it['box']} px box, "
                       + ", ".join(problems))
    return bad


def _outside(items: list[dict], width: int) -> list[str]:
    return [f"{it['what']}: spans {it['left']}..{it['right']} px of a {width} px window"
            for it in items if it["left"] < -SLACK_PX or it["right"] > width + SLACK_PX]


@pages
def test_wide_equations_scroll_with_a_visible_cue(report):
    """No display equation is clipped: one wider than its box scrolls, and shows it does."""
    bad = _hidden_without_cue(report.equations) + _outside(report.equations, report.width)
    assert bad == [], f"{report.page} at {report.width} px: clipped display equations"


@pages
def test_wide_tables_scroll_with_a_visible_cue(report):
    bad = _hidden_without_cue(report.tables, shadow_counts=False) + _outside(report.tables, report.width)
    unboxed = [t["what"] for t in report.tables
               if t["box"] is None and t["right"] > report.width + SLACK_PX]
    assert bad + unboxed == [], f"{report.page} at {report.width} px: clipped tables"


@pages
def test_page_does_not_scroll_sideways(report):
    assert report.page_scroll_width <= report.width + SLACK_PX, (
        f"{report.page} at {report.width} px: the page is {report.page_scroll_width} px wide")


@pages
def test_exactly_one_search_box(report):
    """The book's search box only: not also pydata-sphinx-theme's header bar above it.

    (The search page's own query form, in the page body, is not counted.)"""
    assert len(report.search_boxes) == 1, (
        f"{report.page} at {report.width} px: visible search boxes {report.search_boxes}")


@pages
def test_sidebar_toggle_works(report):
    """Phone: the navigation is hidden and the toggle opens it. Desktop: shown, toggle hides it."""
    t = report.toggle
    assert t.get("visible_toggles") == 1, f"{report.page} at {report.width} px: toggles {t}"
    if report.width < 992:
        assert not t["before"], f"{report.page}: navigation shown on a phone before the toggle"
        assert t["after"], f"{report.page} at {report.width} px: the toggle did not open the navigation"
        assert t["dialog_open"], f"{report.page}: the navigation did not open as a dialog"
    else:
        assert t["before"], f"{report.page}: no navigation on the desktop"
        assert not t["after"], f"{report.page} at {report.width} px: the toggle did not hide the navigation"


def test_every_toc_entry_is_a_page():
    if unavailable():
        skip_or_fail(unavailable())
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc.get("parts", [])
                             for ch in part.get("chapters", [])]
    missing = [f for f in files if f"{f}.html" not in PAGES]
    assert missing == [], "table-of-contents entries with no page in the site"


@pages
def test_screenshots_written(report):
    """Every chapter and key page is shot at each width (the key pages whole: taller than
    the window); the phone's key pages also with the navigation open."""
    rel = report.page
    if not (rel.startswith("chapters/") or rel in KEY_SCREENSHOTS):
        assert report.screenshot == ""
        return
    shot = Path(report.screenshot)
    assert shot == screenshot_path(rel, report.width) and shot.stat().st_size > 10_000, shot
    if rel in KEY_SCREENSHOTS:
        from PIL import Image

        with Image.open(shot) as img:
            assert img.height > 2 * VIEWPORTS[report.width]["height"], (shot, img.size)
        if report.width == PHONE:
            assert shot.with_suffix(".nav-open.png").is_file()


def test_search_finds_jacobian(browser, base_url):

    external: list[str] = []
    context = new_context(browser, external)
    try:
        page = context.new_page()
        page.goto(f"{base_url}/search.html?q=Jacobian", wait_until="load")
        page.wait_for_selector("#search-results ul.search li a", timeout=20_000)
        hrefs = page.eval_on_selector_all("#search-results ul.search li a",
                                          "els => els.map(e => e.getAttribute('href'))")
    finally:
        context.close()
    assert hrefs, "the search for Jacobian found nothing"
    assert any("jacobian" in h.lower() for h in hrefs), hrefs
    assert external == []
