"""Every notebook of the book runs top to bottom without an error, in under 10 s of cell
time, and deterministically: two runs print the same text (cells tagged
``nbval-ignore-output``, e.g. timings, are exempt).

These two runs are the only full executions of a chapter in ``make test``: a cell that
raises fails the test with that cell's traceback (what ``pytest --nbval-lax`` used to
check), and the second run's executed notebook is stored in the book's execution cache
(jupyter-cache, ``_build/.jupyter_cache``) under the current execution key
(``booktools/bookcache.py``), so the book build that follows in ``make test`` takes every
page's outputs from there instead of executing the notebooks a third time.

Each run's time is split into kernel start (launch until the first cell starts), imports
(the code cells up to and including the imports cell) and the other cells (plus the rest
of the wall time: messages between cells, kernel shutdown);
``tests/report_times.py`` prints the table after the run.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import time
from datetime import datetime, timezone

import nbformat
import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from booktools import bookcache

from .conftest import ROOT, notebook_paths

NOTEBOOKS = notebook_paths()
#: the book's rule: a chapter's cells run in under 10 s here. BOOK_TIME_LIMIT_S overrides it
#: (e.g. to measure on a machine that other jobs load; 0 turns the check off)
TIME_LIMIT_S = float(os.environ.get("BOOK_TIME_LIMIT_S", "10"))
#: per-notebook times, printed by `make test` after the run
TIMES = ROOT / "_build" / "notebook-times"
#: the execution key when this module was collected (None: no cache to fill)
KEY = bookcache.exec_key() if bookcache.CACHE_KEY.is_file() else None
#: encrypted kernel connections (no "Kernel is running over TCP without encryption")
START_KW = ({"transport_encryption": "auto"}
            if "transport_encryption" in KernelManager.class_trait_names() else {})
_IMPORT_LINE = re.compile(r"^(import|from)\s", re.M)


def _text_outputs(nb) -> list[tuple[int, str]]:
    """Each code cell's text, concatenated (a print may arrive as several stream messages)."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "nbval-ignore-output" in cell.metadata.get("tags", []):
            continue
        parts = []
        for o in cell.outputs:
            if o.output_type == "stream":
                parts.append(o.text)
            elif o.output_type in ("execute_result", "display_data"):
                parts.append(o.data.get("text/plain", "") + o.data.get("text/latex", "")
                             + o.data.get("text/markdown", ""))
            elif o.output_type == "error":
                parts.append(f"{o.ename}: {o.evalue}")
        out.append((i, "".join(parts)))
    return out


def imports_cell(nb) -> int:
    """Index of the imports cell: the first code cell with an import line that is not
    hidden (the Colab setup cell, tagged ``remove-cell``, comes before it)."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for i in code:
        cell = nb.cells[i]
        if "remove-cell" not in cell.metadata.get("tags", []) and _IMPORT_LINE.search(cell.source):
            return i
    return code[0] if code else -1


def _stamp(cell, key):
    value = cell.metadata.get("execution", {}).get(key)
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def split_times(nb, started: datetime) -> dict[str, float]:
    """Kernel start, imports and other cells, in seconds, from nbclient's cell timestamps."""
    last_import = imports_cell(nb)
    imports = cells = 0.0
    first_busy = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        t0, t1 = _stamp(cell, "iopub.execute_input"), _stamp(cell, "shell.execute_reply")
        busy = _stamp(cell, "iopub.status.busy") or t0
        if first_busy is None and busy is not None:
            first_busy = busy
        if t0 is None or t1 is None:
            continue
        seconds = (t1 - t0).total_seconds()
        if i <= last_import:
            imports += seconds
        else:
            cells += seconds
    kernel = (first_busy - started).total_seconds() if first_busy else 0.0
    return {"kernel_s": round(kernel, 2), "imports_s": round(imports, 2),
            "cells_s": round(cells, 2)}


def _failing_cell(nb) -> tuple[int, int]:
    """(cell index, code cell number) of the first cell with an error output."""
    n = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            n += 1
            if any(o.output_type == "error" for o in cell.get("outputs", [])):
                return i, n
    return -1, -1


def run_notebook(path):
    """Execute ``path`` in its folder; fail the test with the failing cell's traceback."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            record_timing=True, allow_errors=False,
                            # the outputs are all in: kill the kernel, do not wait for it
                            shutdown_kernel="immediate")
    started = datetime.now(timezone.utc)
    start = time.perf_counter()
    try:
        client.execute(**START_KW)
    except CellExecutionError as err:
        index, number = _failing_cell(nb)
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        pytest.fail(f"{where}: code cell {number} (cell index {index}, "
                    f"id {nb.cells[index].get('id', '?')}) raised {err.ename}: {err.evalue}\n"
                    f"{err}", pytrace=False)
    times = split_times(nb, started)
    times["wall_s"] = round(time.perf_counter() - start, 2)
    # what the three parts leave out: messages between cells, kernel shutdown
    times["other_s"] = round(times["wall_s"] - times["kernel_s"] - times["imports_s"]
                             - times["cells_s"], 2)
    return nb, times


def store_in_cache(nb, path, seconds: float, key: str | None = KEY, root=ROOT) -> bool:
    """Put an executed notebook into the book's execution cache (``root/_build``), if the
    cache was filled under ``key`` and ``key`` is still the execution key."""
    if key is None or not bookcache.cache_is_current(key, root) or bookcache.exec_key(root) != key:
        return False  # helpers/ or the environment changed meanwhile: cache nothing
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    # jupyter-cache hashes the cell metadata too: drop nbclient's timing records, which the
    # build's own executions (record_timing off) do not write, or the hashes would differ
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    cache = get_cache(str(root / "_build" / bookcache.CACHE.name))
    cache.cache_notebook_bundle(
        CacheBundleIn(nb, str(path), data={"execution_seconds": seconds}),
        check_validity=False, overwrite=True)
    return True


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_deterministically_and_fast(path):
    nb1, t1 = run_notebook(path)
    nb2, t2 = run_notebook(path)
    name = path.relative_to(ROOT).as_posix()
    cell1 = t1["imports_s"] + t1["cells_s"]
    cell2 = t2["imports_s"] + t2["cells_s"]
    print(f"{name}: cells {cell1:.2f} s / {cell2:.2f} s, wall {t1['wall_s']:.2f} s / "
          f"{t2['wall_s']:.2f} s")
    TIMES.mkdir(parents=True, exist_ok=True)
    (TIMES / f"{path.stem}.json").write_text(json.dumps({"notebook": name, "runs": [t1, t2]}))
    first, second = _text_outputs(nb1), _text_outputs(nb2)
    assert [i for i, _ in first] == [i for i, _ in second]
    for (i, a), (_, b) in zip(first, second):
        if a != b:
            diff = "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(),
                                                  "first run", "second run", lineterm=""))
            pytest.fail(f"{name}: cell {i} (id {nb1.cells[i].get('id', '?')}) printed "
                        f"different text on a second run (tag it nbval-ignore-output only if "
                        f"it prints a time):\n{diff}", pytrace=False)
    # the outputs are right (no error, the same twice): the book build may use them
    store_in_cache(nb2, path, t2["wall_s"])
    fastest = min(cell1, cell2)
    assert TIME_LIMIT_S <= 0 or fastest < TIME_LIMIT_S, (
        f"{name} took {fastest:.1f} s of cell execution (imports {min(t1['imports_s'], t2['imports_s']):.1f} s)")


def test_a_failing_cell_fails_with_its_traceback(tmp_path):
    path = tmp_path / "broken.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Broken"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("def f():\n    return 1 / 0\nf()"),
        nbformat.v4.new_code_cell("print('never runs')"),
    ]), str(path))
    with pytest.raises(pytest.fail.Exception) as info:
        run_notebook(path)
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(info.value))
    assert "broken.ipynb: code cell 2 (cell index 2" in message
    assert "ZeroDivisionError" in message and "return 1 / 0" in message
