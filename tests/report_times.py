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
    if "runs" in r:  # older records (before the split) are skipped
        rows.append(r)
print("notebook execution, two runs each, seconds: kernel start | imports | other cells | wall")
for r in rows:
    runs = r["runs"]
    name = Path(r["notebook"]).stem
    print(f"  {name:<24} kernel {fmt(runs, 'kernel_s')}   imports {fmt(runs, 'imports_s')}"
          f"   cells {fmt(runs, 'cells_s')}   wall {fmt(runs, 'wall_s')}")
if rows:
    tot = {k: sum(min(x[k] for x in r["runs"]) for r in rows)
           for k in ("kernel_s", "imports_s", "cells_s", "wall_s")}
    print(f"  {'total (faster run)':<24} kernel {tot['kernel_s']:5.1f}   imports "
          f"{tot['imports_s']:5.1f}   cells {tot['cells_s']:5.1f}   wall {tot['wall_s']:5.1f}")
else:
    print("  (none recorded)")
