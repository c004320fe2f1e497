"""Repository invariants: the table of contents matches the files, chapters are
committed clean, every chapter starts with the Colab setup cell built from
_config.yml, has exercises, and follows the book's conventions."""

from __future__ import annotations

import re

import nbformat
import pytest
import yaml

from booktools.colab import setup_cell_source
from booktools.notebooks import problems

from .conftest import ROOT, chapter_paths, toc_files

CHAPTERS = chapter_paths()
IDS = [p.stem for p in CHAPTERS]


def test_toc_lists_the_arc_in_order():
    stems = [p.stem for p in CHAPTERS]
    assert stems == sorted(stems), "chapters must be listed in their numbered order"
    for needed in ["scalar_derivative", "gradient", "jacobian", "generalized_jacobian",
                   "linear_layer", "mlp"]:
        assert any(s.endswith(needed) for s in stems), needed
    assert stems.index("05_linear_layer") < stems.index("07_mlp")


def test_every_toc_file_exists_and_every_chapter_is_listed():
    for f in toc_files():
        assert (ROOT / f"{f}.ipynb").exists() or (ROOT / f"{f}.md").exists(), f
    on_disk = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))
    assert on_disk == sorted(IDS), "a notebook in chapters/ is missing from _toc.yml"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert problems(nb) == [], f"run: python -m booktools.notebooks {path.relative_to(ROOT)}"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_first_code_cell_is_the_colab_setup_from_config(path):
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source == setup_cell_source(url)
    assert "remove-cell" in first.metadata.get("tags", [])


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_chapter_conventions(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert re.match(r"\(sec-[a-z0-9-]+\)=\s*\n# ", nb.cells[0].source), "open with a label and a title"
    assert "Coming soon" not in text, "placeholder chapter"
    assert "torch.manual_seed(" in code, "seed explicitly"
    assert "except:" not in code, "no bare except"
    for fetch in ("urlopen", "requests.get", "download=True", "wget ", "curl "):
        assert fetch not in code, f"nothing is downloaded at run time ({fetch!r})"
    n_ex = len(re.findall(r"```\{exercise\}", text))
    assert n_ex >= 3, f"{n_ex} exercises; a chapter ends with at least three"
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "solution" in tags and cell.cell_type == "code":
            assert cell.metadata.get("exercise", "").startswith("ex-"), "code solutions name their exercise"


def test_notebooks_use_helpers_instead_of_redefining_them():
    """A chapter may derive a helper in the open, but under another name (my_..., naive_...)."""
    import helpers

    public = set(helpers.__all__)
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for name in re.findall(r"^def (\w+)\(", cell.source, flags=re.M):
                assert name not in public, f"{path.name} redefines helpers.{name}"


def _list_marker_inside_inline_math(source: str) -> list[str]:
    """Lines that start like a list item (``+ x``, ``- x``, ``1. x``) while an inline ``$``
    opened on an earlier line is still open: Markdown starts a list there and the math breaks
    (chapter 5's summary once rendered half a formula as a bullet)."""
    found, open_math, display = [], False, False
    for line in source.split("\n"):
        if line.strip().startswith("$$"):
            display = not display
            continue
        if display:
            continue
        if open_math and re.match(r"\s*([+*-]|\d+[.)])\s", line):
            found.append(line.strip()[:60])
        if len(re.findall(r"(?<!\\)\$", line.replace("$$", ""))) % 2:
            open_math = not open_math
    return found


def test_list_marker_detector_finds_the_slip():
    assert _list_marker_inside_inline_math("a $x +\ny$ b") == []
    assert _list_marker_inside_inline_math("a $x\n+ y$ b") == ["+ y$ b"]
    assert _list_marker_inside_inline_math("text\n- item $x$") == []


@pytest.mark.parametrize("path", CHAPTERS + [ROOT / "reference" / "notation.ipynb"],
                         ids=IDS + ["notation"])
def test_no_list_marker_breaks_inline_math(path):
    nb = nbformat.read(path, as_version=4)
    bad = [(i, line) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
           for line in _list_marker_inside_inline_math(c.source)]
    assert bad == [], f"{path.name}: move the operator to the end of the previous line: {bad}"


def test_the_package_config_carries_every_helpers_subpackage():
    """A plain `pip install .` (Colab's setup cell, a Gradescope image) installs what
    pyproject.toml lists: every folder of helpers/ with an __init__.py must be in it
    (`packages = ["helpers"]` once left out helpers.exercises and helpers.widgets)."""
    import tomllib

    from setuptools import find_packages

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    if "packages" in conf and isinstance(conf["packages"], list):
        listed = set(conf["packages"])
    else:
        found = conf["packages"]["find"]
        listed = set(find_packages(str(ROOT), include=found.get("include", ["*"]),
                                   exclude=found.get("exclude", [])))
    actual = {".".join(p.relative_to(ROOT).parts[:-1])
              for p in (ROOT / "helpers").rglob("__init__.py")}
    assert actual <= listed, f"not installed by pip install .: {sorted(actual - listed)}"
