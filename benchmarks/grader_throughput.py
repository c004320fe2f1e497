"""The grader's throughput at one and two jobs, measured in one run: ``make bench-grader``.

Grades ``COPIES`` copies of chapter 5 (its reference solutions answer both of its code
exercises, so every exercise runs a sandboxed kernel) with ``--jobs 1`` and then with
``--jobs 2``, and prints a Markdown table: seconds, notebooks per minute, exercises per
minute per job, the grader's own peak memory, and the load average around each run
(other work on the machine slows both runs; the ratio of the two is what one run can
compare). Every exercise must pass: a failure is reported and the script exits 1.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(folder: Path, jobs: int) -> dict:
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "booktools.grade", str(folder),
                           "--jobs", str(jobs)], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"the grader failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    with open(folder / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    failed = [r for r in rows if r["result"] != "pass"]
    if failed:
        sys.exit(f"{len(failed)} of {len(rows)} exercises failed: {failed[:3]}")
    peak = re.search(r"peak memory: (\d+) MB \(this grader\)", proc.stderr)
    return {"jobs": jobs, "seconds": seconds, "files": len({r["student_file"] for r in rows}),
            "exercises": len(rows), "peak_mb": int(peak.group(1)) if peak else None,
            "load": (load0, os.getloadavg()[0]), "sandbox": proc.stdout.splitlines()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6)
    args = parser.parse_args()
    source = ROOT / "chapters" / "05_linear_layer.ipynb"
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-grader-") as tmp:
        for jobs in (1, 2):
            folder = Path(tmp) / f"jobs{jobs}"
            folder.mkdir()
            for i in range(args.copies):
                shutil.copy(source, folder / f"student{i:02d}_05_linear_layer.ipynb")
            results.append(run(folder, jobs))
    print(results[0]["sandbox"])
    print(f"{args.copies} copies of chapter 5, {results[0]['exercises']} exercises per run, "
          f"{os.cpu_count()} cores\n")
    print("| `--jobs` | seconds | notebooks per minute | exercises per minute per job "
          "| grader peak | load before, after |")
    print("|---|---|---|---|---|---|")
    for r in results:
        per_min = 60 * r["files"] / r["seconds"]
        per_job = 60 * r["exercises"] / r["seconds"] / r["jobs"]
        print(f"| {r['jobs']} | {r['seconds']:.0f} | {per_min:.1f} | {per_job:.1f} "
              f"| {r['peak_mb']} MB | {r['load'][0]:.1f}, {r['load'][1]:.1f} |")
    print(f"\nspeed-up of two jobs over one, in this run: "
          f"{results[0]['seconds'] / results[1]['seconds']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
