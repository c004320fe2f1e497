"""The notebook machinery of ``make test``, on small synthetic notebooks.

``make test-notebooks`` executes every notebook of the book twice:

1. ``python -m booktools.executor reference _build/nbval`` executes each notebook (one
   per core, in its own folder) and writes the executed copy under ``_build/nbval/``;
2. ``pytest $(NBVAL) _build/nbval`` is nbval (strict ``--nbval``): it executes every cell
   again and compares its outputs with the copy's, after ``tests/nbval_sanitize.cfg``;
   cells tagged ``nbval-ignore-output`` only have to run. ``tests/nbval_plugin.py`` runs
   nbval's kernel in the original folder, records the times and stores each notebook that
   passed in the book's execution cache; ``tests/report_times.py`` prints the times and
   checks the 10 s budget.

The chapters themselves are the ``_build/nbval`` items of that pytest run (one item per
code cell). This module runs the same two commands, with the ``NBVAL`` flags read from
the Makefile, on a mini book in a temporary folder, so the checks below cost no chapter
execution: a planted nondeterministic output and a raising cell fail with nbval's report
naming the cell; a deterministic notebook whose outputs hold an address, a time (tagged),
a trailing ``;`` and a file read by a relative path passes and lands in the cache.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import nbformat
import pytest

from booktools import bookcache, executor

from . import report_times
from .conftest import ROOT

ESC = re.compile(r"\x1b\[[0-9;]*m")


def nbval_flags() -> list[str]:
    """The ``NBVAL`` flags of ``make test-notebooks``."""
    match = re.search(r"^NBVAL := (.*)$", (ROOT / "Makefile").read_text(), re.M)
    return shlex.split(match.group(1))


def _notebook(path, *cells):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"# {path.stem}"),
        *[nbformat.v4.new_code_cell(src, metadata={"tags": tags} if tags else {})
          for src, tags in cells]])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def machinery(tmp_path_factory):
    book = tmp_path_factory.mktemp("machinery") / "book"
    (book / "chapters").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    (book / "chapters" / "data.txt").write_text("read from the notebook's own folder\n")
    steady = _notebook(
        book / "chapters" / "steady.ipynb",
        ("print(open('data.txt').read().strip())", None),     # the kernel's folder
        ("print(object())", None),                             # an address: sanitized
        ("import time\nprint(time.time())", ["nbval-ignore-output"]),
        ("1 + 1;", None),                                      # ";": no value shown
        ("print('the same twice')\n2 + 2", None))
    planted = _notebook(
        book / "chapters" / "planted.ipynb",
        ("import torch", None),
        ("x = torch.randn(3)    # unseeded: another value in each run\nprint(x)", None),
        ("print('after it')", None))
    broken = _notebook(
        book / "chapters" / "broken.ipynb",
        ("x = 1", None),
        ("def f():\n    return 1 / 0\nf()", None),
        ("print('never runs')", None))
    key = bookcache.prepare_cache(book, log=lambda m: None)
    env = dict(os.environ, BOOK_ROOT=str(book))
    out = book / "_build" / "nbval"
    run1 = subprocess.run([sys.executable, "-m", "booktools.executor", "reference", str(out),
                           str(steady), str(planted), str(broken)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run1.returncode == 0, run1.stdout + run1.stderr
    run2 = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-p", "no:hypothesispytest", *nbval_flags(), str(out), "-rf",
                           "--rootdir", str(book)],   # item names as in make test
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return {"book": book, "key": key, "run1": run1.stdout + run1.stderr,
            "run2": ESC.sub("", run2.stdout + run2.stderr), "rc": run2.returncode,
            "steady": steady, "planted": planted, "broken": broken}


def _failed(report: str) -> set[str]:
    """The failed items, ``chapters/name.ipynb::Cell N``."""
    return {re.sub(r"^.*?_build/nbval/", "", f)
            for f in re.findall(r"^FAILED (\S+::Cell \d+)", report, re.M)}


def _section(report: str, item: str) -> str:
    """The failure section of ``item`` in pytest's report."""
    parts = re.split(r"^_{3,} (\S+::Cell \d+) _{3,}$", report, flags=re.M)
    found = [text for head, text in zip(parts[1::2], parts[2::2]) if head.endswith(item)]
    assert found, report[-3000:]
    return found[0]


def test_planted_nondeterminism_fails_with_nbvals_message_naming_the_cell(machinery):
    report = machinery["run2"]
    assert machinery["rc"] != 0, report
    assert "chapters/planted.ipynb::Cell 1" in _failed(report), report[-3000:]
    block = _section(report, "chapters/planted.ipynb::Cell 1")
    assert "Cell 1: Cell outputs differ" in block
    assert "x = torch.randn(3)" in block and "mismatch 'stdout'" in block
    assert "assert reference_output == test_output failed" in block


def test_a_raising_cell_fails_with_nbvals_traceback(machinery):
    assert "chapters/broken.ipynb: Cell 1 (cell index 2) raised ZeroDivisionError" \
        in machinery["run1"], machinery["run1"]
    report = machinery["run2"]
    assert "chapters/broken.ipynb::Cell 1" in _failed(report), report[-3000:]
    block = _section(report, "chapters/broken.ipynb::Cell 1")
    assert "Cell 1: Cell execution caused an exception" in block
    assert "return 1 / 0" in block and "ZeroDivisionError" in block


def test_a_deterministic_notebook_passes_and_fills_the_cache(machinery):
    from jupyter_cache import get_cache

    report = machinery["run2"]
    assert not any("steady.ipynb" in f for f in _failed(report)), report[-3000:]
    # 5 + 3 + 3 code cells; the planted one and the raising one fail
    assert re.search(r"\b2 failed, 9 passed\b", report), report[-2000:]
    book = machinery["book"]
    cache = get_cache(str(book / "_build" / ".jupyter_cache"))
    record = cache.match_cache_notebook(nbformat.read(machinery["steady"], as_version=4))
    assert record.uri == str(machinery["steady"])
    for failing in ("planted", "broken"):
        with pytest.raises(KeyError):
            cache.match_cache_notebook(nbformat.read(machinery[failing], as_version=4))
    times = json.loads((book / "_build" / "notebook-times" / "steady.json").read_text())
    assert len(times["runs"]) == 2 and all(r["kernel_s"] > 0 for r in times["runs"])


def test_the_nbval_cell_timeout_is_the_books():
    flags = nbval_flags()
    assert "--nbval" in flags and "--nbval-current-env" in flags
    assert float(flags[flags.index("--nbval-cell-timeout") + 1]) == executor.cell_timeout()
    assert (ROOT / flags[flags.index("--nbval-sanitize-with") + 1]).is_file()


def test_the_time_budget_fails_a_slow_notebook(tmp_path, capsys):
    def record(name, *cells):
        runs = [{"kernel_s": 1, "imports_s": 2, "cells_s": c, "other_s": 0, "wall_s": 3 + c}
                for c in cells]
        (tmp_path / f"{name}.json").write_text(json.dumps({"notebook": name, "runs": runs}))

    record("fast", 3.0, 12.0)   # the faster run counts
    assert report_times.main(tmp_path, limit=10) == 0
    record("slow", 8.5, 9.0)    # 2 s of imports + 8.5 s
    assert report_times.main(tmp_path, limit=10) == 1
    assert "TOO SLOW: slow took 10.5 s" in capsys.readouterr().out
