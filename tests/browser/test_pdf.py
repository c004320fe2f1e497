"""The book as one PDF (``make pdf``): every chapter and reference page, math, a contents page.

Reads ``_build/pdf/<name>.pdf`` with poppler's ``pdfinfo`` and ``pdftotext``. Skipped (with
the reason) when the PDF or poppler is missing, except with ``CI=true``, where it fails:
They are part of ``make test-envs`` (marker ``envs``), which builds the PDF first;
CI runs it after ``make test``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from site_browser import ON_CI, ROOT, SITE

sys.path.insert(0, str(ROOT / "_ext"))
from offline_assets import PDF_NAME  # noqa: E402

PDF = ROOT / "_build" / "pdf" / PDF_NAME
#: a chapter of this book fills a few to a few dozen A4 pages
MAX_PAGES_PER_DOC = 40


pytestmark = pytest.mark.envs

def _need_pdf() -> None:
    reason = None
    if not shutil.which("pdfinfo") or not shutil.which("pdftotext"):
        reason = "poppler-utils (pdfinfo, pdftotext) not installed"
    elif not PDF.is_file():
        reason = f"no PDF at {PDF} (run `make pdf`)"
    if reason:
        if ON_CI:
            pytest.fail(f"PDF tests cannot run: {reason} (CI=true)", pytrace=False)
        pytest.skip(reason)


@lru_cache(maxsize=None)
def page_count() -> int:
    out = subprocess.run(["pdfinfo", str(PDF)], check=True, capture_output=True, text=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))


@lru_cache(maxsize=None)
def pages_text() -> list[str]:
    """The text of each page (pdftotext separates pages with form feeds)."""
    out = subprocess.run(["pdftotext", "-layout", str(PDF), "-"], check=True,
                         capture_output=True, text=True).stdout
    return out.split("\f")[:page_count()]


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def toc_titles() -> list[tuple[str, str]]:
    """(file, title) of every page of the table of contents, from its source's first heading."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    out = []
    for f in files:
        path = next(p for p in (ROOT / f"{f}.md", ROOT / f"{f}.ipynb") if p.is_file())
        if path.suffix == ".ipynb":
            import nbformat

            nb = nbformat.read(path, as_version=4)
            text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        else:
            text = path.read_text()
        m = re.search(r"^# +(.+)$", text, re.M)
        assert m, f"{path}: no top-level heading"
        title = re.sub(r"\{[^}]*\}`([^`]*)`", r"\1", m.group(1))   # roles -> their text
        title = re.sub(r"[`*_]|\$[^$]*\$", "", title).strip()
        out.append((f, title))
    return out


def first_page_of(title: str, after: int = 0) -> int | None:
    """The first page (0-based) from ``after`` on whose text contains ``title`` as a heading."""
    key = norm(title)
    for i, text in enumerate(pages_text()[after:], start=after):
        if key in norm(text):
            return i
    return None


def test_pdf_has_every_chapter_in_order():
    _need_pdf()
    titles = toc_titles()
    # the contents page lists them all: find each chapter again after it, in reading order
    contents = next((i for i, t in enumerate(pages_text()) if norm(t).startswith("contents")
                     or " contents " in f" {norm(t)[:200]} "), None)
    assert contents is not None, "no contents page in the PDF"
    toc_text = norm(" ".join(pages_text()[contents:contents + 3]))
    missing_toc = [t for _, t in titles if norm(t) not in toc_text]
    assert missing_toc == [], "titles missing from the PDF's contents page"
    where, after = {}, contents + 1
    for f, title in titles:
        page = first_page_of(title, after)
        assert page is not None, f"{f}: title {title!r} not found in the PDF text (after page {after + 1})"
        where[f] = page
        after = page + 1 if f != titles[-1][0] else page
    print({f: p + 1 for f, p in where.items()})


def test_pdf_page_count():
    _need_pdf()
    n_docs = len(toc_titles())
    pages = page_count()
    print(f"{PDF.name}: {pages} pages for {n_docs} chapters and reference pages")
    # title + contents + one page at least per document (each starts on a new page) ...
    assert pages >= n_docs + 2, f"{pages} pages for {n_docs} documents"
    # ... and no runaway (blank pages, a figure per page, an unwrapped line per page)
    assert pages <= n_docs * MAX_PAGES_PER_DOC, f"{pages} pages for {n_docs} documents"
    blank = [i + 1 for i, t in enumerate(pages_text()) if len(t.strip()) < 20]
    assert len(blank) <= 1, f"nearly blank pages: {blank}"


def test_pdf_math_is_rendered():
    """No TeX delimiters left in the text (what Sphinx writes around math MathJax has not
    typeset; code cells may hold TeX strings, never these), and typeset symbols present."""
    _need_pdf()
    text = "\n".join(pages_text())
    raw = [tok for tok in ("\\(", "\\)", "\\[", "\\]", "\\begin{", "$$") if tok in text]
    assert raw == [], f"unrendered math delimiters in the PDF text: {raw}"
    assert text.count("\u2202") >= 50, "too few typeset partial-derivative signs: math missing?"


def test_pdf_has_the_figures():
    """Every figure of the book (the PNGs the singlehtml page shows) is an image in the PDF."""
    _need_pdf()
    single = ROOT / "_build" / "singlehtml"
    html = max(single.glob("*.html"), key=lambda p: p.stat().st_size).read_text()
    figures = set(re.findall(r'<img[^>]*src="(_images/[^"]+\.png)"', html))
    out = subprocess.run(["pdfimages", "-list", str(PDF)], check=True, capture_output=True,
                         text=True).stdout.splitlines()[2:]
    images = [row for row in out if row.split()[2:3] == ["image"]]
    assert figures, "no figures found in the singlehtml build"
    assert len(images) >= len(figures), f"{len(images)} images in the PDF, {len(figures)} figures"


def test_site_links_the_pdf():
    _need_pdf()
    if not (SITE / "intro.html").is_file():
        pytest.skip("no built site")
    assert (SITE / PDF_NAME).is_file(), f"{PDF_NAME} not copied into the site (make pdf)"
    for page in ("intro.html", "chapters/05_linear_layer.html"):
        html = (SITE / page).read_text()
        href = ("../" if "/" in page else "") + PDF_NAME
        assert f'href="{href}"' in html, f"{page} does not link to {href}"
