"""Print the chapter execution times that tests/test_notebooks.py recorded (make test)."""

import json
from pathlib import Path

TIMES = Path(__file__).resolve().parent.parent / "_build" / "notebook-times"

rows = [json.loads(p.read_text()) for p in sorted(TIMES.glob("*.json"))]
print("chapter execution, two runs each (cell time; wall time including kernel start):")
for r in rows:
    (c1, c2), (w1, w2) = r["cells_s"], r["wall_s"]
    print(f"  {r['chapter']:<26} cells {c1:5.2f} / {c2:5.2f} s   wall {w1:5.2f} / {w2:5.2f} s")
if not rows:
    print("  (none recorded)")
