"""Grade a folder of submitted notebooks: ``python -m helpers.grade DIR`` (``make grade``).

For every ``*.ipynb`` under ``DIR`` (each student's copy of a chapter):

1. A separate worker process (``python -m helpers.grade --worker``) with a total
   time limit executes the notebook with :mod:`nbclient` in a fresh kernel, in an
   empty temporary folder, with a time limit per cell; errors in the student's cells
   do not stop the run (``allow_errors``), and a cell that runs out of time is
   interrupted and execution goes on.
2. After the student's cells, one grading cell per exercise looks up the student's
   function by the name :data:`helpers.checks.EXERCISES` gives it, reloads the
   reference helpers (undoing accidental shadowing), runs the exercise's checker on it
   and prints one JSON line with the result and the checker's diagnosis.
3. The results go to a CSV file (``student_file, exercise, result, diagnosis``) and a
   summary line is printed.

Which exercises a notebook is graded on: ``--exercises`` if given, else every label in
:data:`~helpers.checks.EXERCISES` whose label or ``def my_...`` appears in the file, or
whose chapter's name is part of the file name.

Failures are isolated: a notebook that is not valid JSON, raises, deletes the
function, loops forever (per-cell time limit), or kills its kernel (the grader
restarts it without the offending cell) costs that student that exercise, never the
run. This is **not a security sandbox**: the students' code runs with your user's
rights and can read and write your files. Grade untrusted submissions in a
container or a throw-away account.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["expected_labels", "grade_notebook", "grade_folder", "main"]

MARKER = "@@helpers.grade@@ "
_SELF_CHECK = re.compile(r"\s*check_\w+\(\s*my_\w+\s*\)\s*;?\s*")
TIMEOUT_ENAME = "GradeCellTimeout"

# Imports the libraries before the student's cells, under a generous time limit, so
# that the per-cell limit measures the student's code, not torch's import time.
WARMUP_CELL = "import torch, helpers, helpers.checks"
WARMUP_TIMEOUT = 300

# The grading cell appended once per exercise (runs in the student's kernel).
GRADE_CELL = '''\
def _helpers_grade_(label):
    import contextlib, importlib, io, json
    import helpers.shapes, helpers.jacobians, helpers.layers, helpers.checks
    for module in (helpers.shapes, helpers.jacobians, helpers.layers, helpers.checks):
        importlib.reload(module)  # the reference code, as on disk
    ex = helpers.checks.EXERCISES[label]; checker, name = ex.checker, ex.func
    fn = globals().get(name)
    if fn is None:
        result = (False, f"{{name}} is not defined: the cell that defines it was deleted, "
                         f"renamed or failed")
    elif not callable(fn):
        result = (False, f"{{name}} is not a function (it is a {{type(fn).__name__}})")
    else:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                ok = checker(fn)
            result = (True, "") if ok is True else (
                False, "not implemented yet (the stub still raises NotImplementedError)")
        except AssertionError as exc:
            result = (False, str(exc))
        except (Exception, SystemExit) as exc:
            result = (False, f"the check could not run: {{type(exc).__name__}}: {{exc}}")
    print({marker!r} + json.dumps({{"label": label, "passed": result[0],
                                   "diagnosis": result[1]}}))

_helpers_grade_({label!r})
'''


def expected_labels(path: Path, text: str) -> list[str]:
    """The exercises a submission is graded on (see the module docstring)."""
    from .checks import EXERCISES

    out = []
    for label, ex in EXERCISES.items():
        func, stem = ex.func, ex.chapter
        if (label in text or re.search(rf"def\s+{re.escape(func)}\s*\(", text)
                or stem in path.name):
            out.append(label)
    return out


# ------------------------------------------------------------------------ the worker

def grade_notebook(path: str | Path, labels: list[str], cell_timeout: float) -> dict:
    """Execute one notebook and run the checkers (in the worker process).

    Returns ``{label: [passed, diagnosis]}`` for every label in ``labels``.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    try:
        nb = nbformat.read(str(path), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as exc:  # noqa: BLE001 - any unreadable file costs its exercises
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return {lab: [False, f"the file is not a valid notebook ({type(exc).__name__}: "
                             f"{first})"] for lab in labels}

    body = [c for c in nb.cells if c.get("cell_type") in ("code", "markdown", "raw")]
    for i, c in enumerate(body):
        if c.get("cell_type") == "code":
            c["outputs"] = []
            if _SELF_CHECK.fullmatch(str(c.get("source", ""))):
                # the grading cells run this check again; running it twice would only
                # double the cost of an infinite loop or a crash
                body[i] = nbformat.v4.new_code_cell("# self-check skipped by the grader")
    results: dict = {}
    dead_cells: set[int] = set()
    for _attempt in range(6):
        cells = [nbformat.v4.new_code_cell("# removed by the grader: this cell killed the kernel")
                 if i in dead_cells else c for i, c in enumerate(body)]
        first_grade = len(cells)
        pending = [lab for lab in labels if lab not in results]
        cells += [nbformat.v4.new_code_cell(GRADE_CELL.format(marker=MARKER, label=lab))
                  for lab in pending]
        warmup = nbformat.v4.new_code_cell(WARMUP_CELL)
        warmup.metadata["grader"] = "warmup"
        nb.cells = [warmup] + cells
        first_grade += 1
        current = {"index": None}
        timed_out: set[int] = set()

        def on_execute(cell, cell_index, **_):
            current["index"] = cell_index

        def on_executed(cell, cell_index, execute_reply, **_):
            content = (execute_reply or {}).get("content", {})
            if content.get("ename") == TIMEOUT_ENAME:
                timed_out.add(cell_index)

        client = NotebookClient(
            nb, timeout=cell_timeout, kernel_name="python3",
            timeout_func=lambda cell: (WARMUP_TIMEOUT if cell.metadata.get("grader") == "warmup"
                                       else cell_timeout), allow_errors=True,
            interrupt_on_timeout=True, startup_timeout=120, record_timing=False,
            error_on_timeout={"ename": TIMEOUT_ENAME,
                              "evalue": f"cell exceeded {cell_timeout:g} s",
                              "traceback": []},
            on_cell_execute=on_execute, on_cell_executed=on_executed,
            resources={"metadata": {"path": os.getcwd()}},
        )
        try:
            client.execute()
        except DeadKernelError:
            k = current["index"]
            if k is None:
                break
            if k == 0:
                break  # the warm-up cell: the environment is broken, not the student's code
            if k >= first_grade:
                # the grading cells before this one finished: keep their results
                for j in range(k - first_grade):
                    results.setdefault(pending[j], _parse(nb.cells[first_grade + j],
                                                          cell_timeout, timed_out,
                                                          first_grade + j))
                results[pending[k - first_grade]] = [
                    False, "the kernel died while checking your function (it crashed the "
                           "Python process or called os._exit)"]
            else:
                dead_cells.add(k - 1)  # rerun without this cell of the student's
            continue
        except Exception as exc:  # noqa: BLE001 - e.g. the kernel did not start
            for lab in pending:
                results.setdefault(lab, [False, f"the notebook could not be executed: "
                                                f"{type(exc).__name__}: {exc}"])
            break
        for j, lab in enumerate(pending):
            results.setdefault(lab, _parse(nb.cells[first_grade + j], cell_timeout,
                                           timed_out, first_grade + j))
        break
    for lab in labels:
        results.setdefault(lab, [False, "the kernel kept dying; gave up on this notebook"])
    return results


def _parse(cell, cell_timeout: float, timed_out: set[int], index: int) -> list:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            for line in out.get("text", "").splitlines():
                if line.startswith(MARKER):
                    try:
                        r = json.loads(line[len(MARKER):])
                        return [bool(r["passed"]), str(r["diagnosis"])]
                    except (ValueError, KeyError, TypeError):
                        pass
    if index in timed_out:
        return [False, f"time limit: the check did not finish within {cell_timeout:g} s "
                       f"(an infinite loop?)"]
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return [False, f"the check could not run: {out.get('ename')}: {out.get('evalue')}"]
    return [False, "the check printed no result"]


# ------------------------------------------------------------------------ the parent

def _run_worker(path: Path, labels: list[str], cell_timeout: float, timeout: float) -> dict:
    # run this file as a script, not `-m helpers.grade`: importing the helpers package
    # would import torch in the worker too (seconds per notebook); the kernel has it
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(path.resolve()),
           "--exercises", ",".join(labels), "--cell-timeout", str(cell_timeout)]
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0")
    # the worker must import *these* helpers, whatever the current directory
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent)] + [p for p in [env.get("PYTHONPATH")] if p])
    with tempfile.TemporaryDirectory(prefix="grade-") as work:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its kernel
            proc.communicate()
            return {lab: [False, f"time limit: the notebook did not finish within {timeout:g} s"]
                    for lab in labels}
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                return json.loads(line[len(MARKER):])
            except ValueError:
                break
    tail = (stderr.strip().splitlines() or ["no output"])[-1][:300]
    return {lab: [False, f"the grader's worker failed ({tail})"] for lab in labels}


def grade_folder(folder: str | Path, out: str | Path | None = None, *,
                 cell_timeout: float = 60, timeout: float = 600, jobs: int = 1,
                 exercises: list[str] | None = None) -> list[dict]:
    """Grade every notebook under ``folder``; write the CSV; return its rows."""
    folder = Path(folder)
    paths = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    out = Path(out) if out is not None else folder / "grades.csv"
    plan = []
    for p in paths:
        text = p.read_text(errors="replace")
        plan.append((p, exercises or expected_labels(p, text)))

    def one(item):
        p, labels = item
        start = time.perf_counter()
        res = _run_worker(p, labels, cell_timeout, timeout) if labels else {}
        print(f"  {p.relative_to(folder)}: "
              f"{sum(bool(r[0]) for r in res.values())}/{len(labels)} passed "
              f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
        return p, labels, res

    rows = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for p, labels, res in pool.map(one, plan):
            name = str(p.relative_to(folder))
            if not labels:
                rows.append({"student_file": name, "exercise": "", "result": "fail",
                             "diagnosis": "no exercise found in this file (is it a chapter?)"})
            for lab in labels:
                passed, diagnosis = res.get(lab, [False, "no result"])
                rows.append({"student_file": name, "exercise": lab,
                             "result": "pass" if passed else "fail",
                             "diagnosis": " ".join(str(diagnosis).split())})
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["student_file", "exercise", "result", "diagnosis"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.grade",
        description="Grade the code exercises of every notebook in a folder (not a sandbox).")
    parser.add_argument("folder", help="folder of submitted notebooks (searched recursively)")
    parser.add_argument("--out", help="CSV file to write (default: FOLDER/grades.csv)")
    parser.add_argument("--cell-timeout", type=float, default=60,
                        help="seconds each cell may run (default 60)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds a whole notebook may take (default 600)")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks graded at once")
    parser.add_argument("--exercises", help="comma-separated labels (default: found in each file)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    labels = [s for s in (args.exercises or "").split(",") if s] or None
    if args.worker:
        result = grade_notebook(args.folder, labels or [], args.cell_timeout)
        print(MARKER + json.dumps(result))
        return 0
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return 2
    from .checks import EXERCISES

    unknown = [lab for lab in labels or [] if lab not in EXERCISES]
    if unknown:
        print(f"error: unknown exercise labels {unknown}; known: {sorted(EXERCISES)}",
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    out = Path(args.out) if args.out else folder / "grades.csv"
    rows = grade_folder(folder, out, cell_timeout=args.cell_timeout, timeout=args.timeout,
                        jobs=args.jobs, exercises=labels)
    files = len({r["student_file"] for r in rows})
    passed = sum(r["result"] == "pass" for r in rows)
    print(f"graded {files} notebooks, {len(rows)} exercise results: {passed} passed, "
          f"{len(rows) - passed} failed, in {time.perf_counter() - start:.1f} s; CSV: {out}")
    return 0


if __name__ == "__main__":
    # run as a script (the worker), Python put helpers/ itself first on sys.path, where
    # the helpers' module names could shadow a library's; take it off again
    _here = Path(__file__).resolve().parent
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != _here]
    raise SystemExit(main())
