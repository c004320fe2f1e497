"""Print the notebook execution times of `make test` and check the 10 s budget.

Each notebook runs twice: run 1 (``python -m booktools.executor reference``) and run 2
(``pytest --nbval``, times recorded by ``tests/nbval_plugin.py``). Each run is split into
kernel start (launch until the first cell starts), imports (the code cells up to and
including the imports cell), the other cells and the rest (messages between cells, kernel
shutdown); wall is the whole run.

The book's rule: a notebook's cells (imports and other cells) run in under 10 s, checked
on the faster of its two runs. ``BOOK_TIME_LIMIT_S`` overrides the limit (e.g. on a machine
that other jobs load; 0 turns the check off). Exits 1 when a notebook is over it.
"""

import json
import os
import sys
from pathlib import Path

TIMES = Path(__file__).resolve().parent.parent / "_build" / "notebook-times"
TIME_LIMIT_S = float(os.environ.get("BOOK_TIME_LIMIT_S", "10"))
KEYS = ("kernel_s", "imports_s", "cells_s", "other_s", "wall_s")


def fmt(runs, key):
    return " / ".join(f"{r[key]:5.2f}" for r in runs)


def cell_time(run) -> float:
    return run["imports_s"] + run["cells_s"]


def main(times: Path = TIMES, limit: float = TIME_LIMIT_S) -> int:
    rows = []
    for p in sorted(times.glob("*.json")):
        r = json.loads(p.read_text())
        if r.get("runs") and all(set(KEYS) <= set(x) for x in r["runs"]):  # skip older records
            rows.append(r)
    print("notebook execution, run 1 / run 2 (nbval), seconds: kernel start | imports | "
          "other cells | rest (between cells, shutdown) | wall")
    for r in rows:
        runs = r["runs"]
        print(f"  {Path(r['notebook']).stem:<24} kernel {fmt(runs, 'kernel_s')}   imports "
              f"{fmt(runs, 'imports_s')}   cells {fmt(runs, 'cells_s')}   rest "
              f"{fmt(runs, 'other_s')}   wall {fmt(runs, 'wall_s')}")
    if not rows:
        print("  (none recorded)")
        return 0
    tot = {k: sum(min(x[k] for x in r["runs"]) for r in rows) for k in KEYS}
    print(f"  {'sum of the faster runs':<24} kernel {tot['kernel_s']:5.1f}   imports "
          f"{tot['imports_s']:5.1f}   cells {tot['cells_s']:5.1f}   rest {tot['other_s']:5.1f}"
          f"   wall {tot['wall_s']:5.1f}")
    slow = [(r["notebook"], min(map(cell_time, r["runs"])),
             min(x["imports_s"] for x in r["runs"])) for r in rows]
    slow = [s for s in slow if limit > 0 and s[1] >= limit]
    for name, seconds, imports in slow:
        print(f"TOO SLOW: {name} took {seconds:.1f} s of cell execution on its faster run "
              f"(imports {imports:.1f} s); the limit is {limit:g} s "
              "(BOOK_TIME_LIMIT_S)")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
