"""Every chapter executes top to bottom in under 10 s and is deterministic: two runs
print the same text (cells tagged ``nbval-ignore-output``, e.g. timings, are exempt).

nbval (``pytest --nbval-lax chapters``) runs the notebooks as well; this test adds the
determinism and time checks, which nbval does not make."""

from __future__ import annotations

import json
import time
from datetime import datetime

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import ROOT, chapter_paths

CHAPTERS = chapter_paths()
TIME_LIMIT_S = 10.0
#: per-chapter times, printed by `make test` after the run
TIMES = ROOT / "_build" / "notebook-times"


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


def _cell_seconds(nb) -> float:
    total = 0.0
    for cell in nb.cells:
        ex = cell.metadata.get("execution", {})
        if "iopub.execute_input" in ex and "shell.execute_reply" in ex:
            t0 = datetime.fromisoformat(ex["iopub.execute_input"].replace("Z", "+00:00"))
            t1 = datetime.fromisoformat(ex["shell.execute_reply"].replace("Z", "+00:00"))
            total += (t1 - t0).total_seconds()
    return total


def _run(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            record_timing=True, allow_error_names=[])
    start = time.perf_counter()
    client.execute()
    return nb, _cell_seconds(nb), time.perf_counter() - start


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_is_deterministic_and_fast(path):
    nb1, cells1, wall1 = _run(path)
    nb2, cells2, wall2 = _run(path)
    fastest = min(cells1, cells2)
    print(f"{path.name}: cells {cells1:.2f} s / {cells2:.2f} s, wall {wall1:.2f} s / {wall2:.2f} s")
    TIMES.mkdir(parents=True, exist_ok=True)
    (TIMES / f"{path.stem}.json").write_text(json.dumps(
        {"chapter": path.stem, "cells_s": [round(cells1, 2), round(cells2, 2)],
         "wall_s": [round(wall1, 2), round(wall2, 2)]}))
    assert fastest < TIME_LIMIT_S, f"{path.name} took {fastest:.1f} s of cell execution"
    first, second = _text_outputs(nb1), _text_outputs(nb2)
    for (i, a), (j, b) in zip(first, second):
        assert (i, a) == (j, b), f"{path.name}: cell {i} printed different text on a second run"
    assert len(first) == len(second)
