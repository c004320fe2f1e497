"""Shared fixtures: the repository root and the chapter list (from _toc.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_files() -> list[str]:
    """Every file the table of contents lists, in reading order (without suffix)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


def chapter_paths() -> list[Path]:
    return [ROOT / f"{f}.ipynb" for f in toc_files() if f.startswith("chapters/")]


def notebook_paths() -> list[Path]:
    """Every notebook of the table of contents (the chapters and reference pages): the
    notebooks that `make test` and `make book` execute (booktools/executor.py)."""
    from booktools.executor import toc_notebooks

    return toc_notebooks(ROOT)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
