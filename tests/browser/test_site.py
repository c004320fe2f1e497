"""Every page of the built site, checked in a real browser (see conftest.py).

One visit per page records console messages, requests, math, images, solutions, launch
links and axe-core's findings; each test below checks one of those for one page.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from site_browser import (AXE, NO_SITE, ROOT, SITE, new_context, skip_or_fail, site_pages,
                          unavailable, visit)

PAGES = site_pages() or [NO_SITE]
#: smallest rendered width (CSS px, 1280 px wide window) of a figure in the text
MIN_FIGURE_WIDTH = 300


def _config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())


@pytest.fixture
def report(browser, base_url, request):
    rel = request.param
    if rel == NO_SITE:
        skip_or_fail(unavailable() or f"no pages found in {SITE}")
    return visit(browser, base_url, rel)


def pages(fn):
    return pytest.mark.parametrize("report", PAGES, indirect=True)(fn)


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
             if img["inContent"] and img["width"] < MIN_FIGURE_WIDTH]
    assert small == [], f"{report.page}: figures narrower than {MIN_FIGURE_WIDTH} px"
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


def test_every_toc_entry_is_a_page():
    if unavailable():
        skip_or_fail(unavailable())
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc.get("parts", [])
                             for ch in part.get("chapters", [])]
    missing = [f for f in files if f"{f}.html" not in PAGES]
    assert missing == [], "table-of-contents entries with no page in the site"


def test_chapter_screenshots_written(browser, base_url):
    chapters = [p for p in PAGES if p.startswith("chapters/")]
    if not chapters:
        skip_or_fail(unavailable() or "no chapter pages")
    shots = [visit(browser, base_url, p).screenshot for p in chapters]
    assert all(s and Path(s).stat().st_size > 10_000 for s in shots), shots


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
