"""Print the notebook execution times that tests/test_notebooks.py recorded (make test).

Each notebook runs twice; each run is split into kernel start (launch until the first
cell starts), imports (the code cells up to and including the imports cell) and the
other cells; wall is the whole run as the test saw it."""

import json
from pathlib import Path

TIMES = Path(__file__).resolve().parent.parent / "_build" / "notebook-times"


def fmt(runs, key):
    return " / ".join(f"{r[key]:5.2f}" for r in runs)


rows = []
for p in sorted(TIMES.glob("*.json")):
    r = json.loads(p.read_text())
    if "runs" in r and all("other_s" in x for x in r["runs"]):  # skip older records
        rows.append(r)
print("notebook execution, two runs each, seconds: kernel start | imports | other cells | "
      "rest (between cells, shutdown) | wall")
for r in rows:
    runs = r["runs"]
    name = Path(r["notebook"]).stem
    print(f"  {name:<24} kernel {fmt(runs, 'kernel_s')}   imports {fmt(runs, 'imports_s')}"
          f"   cells {fmt(runs, 'cells_s')}   rest {fmt(runs, 'other_s')}"
          f"   wall {fmt(runs, 'wall_s')}")
if rows:
    tot = {k: sum(min(x[k] for x in r["runs"]) for r in rows)
           for k in ("kernel_s", "imports_s", "cells_s", "other_s", "wall_s")}
    print(f"  {'sum of the faster runs':<24} kernel {tot['kernel_s']:5.1f}   imports "
          f"{tot['imports_s']:5.1f}   cells {tot['cells_s']:5.1f}   rest {tot['other_s']:5.1f}"
          f"   wall {tot['wall_s']:5.1f}")
else:
    print("  (none recorded)")
