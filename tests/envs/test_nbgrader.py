"""The course of ``make nbgrader`` through nbgrader's real pipeline, in an environment of its own.

1. a virtualenv with nbgrader (:data:`NBGRADER`) and the packages the book's helpers need,
   at the versions of requirements.lock (used as constraints, without its hashes: nbgrader
   brings packages the lock does not have), and the helpers themselves, ``pip install -e``
   of this checkout as the instructors' page says. It is kept under
   ``_build/nbgrader-env/<key>``, the key being a hash of the lock, of what is installed, of
   the Python version and of this checkout's path, so a repeat run skips the build;
   ``BOOK_NBGRADER_FRESH=1`` builds it in a temporary folder;
2. ``python -m booktools.nbgrader_course --out <tmp>/course`` (what ``make nbgrader`` runs);
3. ``nbgrader generate_assignment`` of every chapter, with a SQLite gradebook;
4. submissions under ``submitted/<student>/<assignment>/``: the student "honest" hands in the
   book's solutions of every chapter (each must get full points); for chapter 5 three more
   students hand in a wrong one (one exercise sums the bias gradient over the wrong axis), a
   "shadow" one (the wrong answers plus a cell-level ``def graded_check`` that returns
   True, which must not stand in for the book's judge) and a "patched" one (the wrong
   answers plus a replacement of ``helpers.exercises.selfcheck.graded_check``: it gets full
   credit, the limitation of grading in the student's kernel that the instructors' page
   states);
5. ``nbgrader autograde`` of every chapter and ``nbgrader generate_feedback`` of chapter 5;
   the scores are read from the gradebook with nbgrader's own API, and the feedback HTML must
   carry the book's diagnosis;
6. the book's own grader (``python -m booktools.grade``, what ``make grade`` runs) on chapter
   5's submissions in the same ``submitted/<student>/<assignment>/`` layout: it must find
   every notebook there and give nbgrader's verdicts where nbgrader was not fooled.

The kernels nbgrader starts are the environment's own (its ``bin`` first on ``PATH``, an empty
Jupyter data and config folder, so no kernel or config of this machine's user is used, and no
``PYTHONPATH``: the helpers come from the environment's editable install).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.envs

ROOT = Path(__file__).resolve().parents[2]
NBGRADER = "nbgrader==0.9.6"
#: the helpers' dependencies (pyproject.toml) and the kernel; versions from requirements.lock
PACKAGES = ["torch", "numpy", "sympy", "matplotlib", "ipywidgets", "ipykernel"]
ASSIGNMENT = "05_linear_layer"
#: the exercise the wrong submission gets wrong, and how (its diagnosis must reach the feedback)
WRONG_LABEL, RIGHT_TEXT, WRONG_TEXT = "ex-linear-vjp", "G2.sum(dim=0)", "G2.sum(dim=1)"
DIAGNOSIS = "the bias gradient is summed over the wrong axis"
#: code put before the wrong answer: a cell-level stand-in for the book's judge, which must
#: not get credit; and a patch of the judge's module, which does (in-kernel grading cannot
#: stop it: reference/instructors.md says so, and this keeps that statement checked)
PREFIX = {"shadow": "def graded_check(*args, **kwargs):\n    return True\n\n\n",
          "patched": ("import helpers.exercises.selfcheck\n"
                      "helpers.exercises.selfcheck.graded_check = lambda *args, **kwargs: True\n\n\n")}


def run(cmd, **kw) -> subprocess.CompletedProcess:
    print("$", " ".join(map(str, cmd)), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", flush=True)
    assert proc.returncode == 0, f"{cmd[:4]} failed with exit {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


def lock_constraints() -> str:
    """requirements.lock's pins (``name==version``), without hashes or comments."""
    text = (ROOT / "requirements.lock").read_text()
    return "\n".join(re.findall(r"^([A-Za-z0-9][A-Za-z0-9_.\-\[\]]*==[^\s\\;]+)", text, re.M)) + "\n"


def env_key() -> str:
    h = hashlib.sha256()
    for part in (lock_constraints(), NBGRADER, " ".join(PACKAGES), sys.version, str(ROOT)):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def build_env(env_dir: Path) -> Path:
    """A fresh virtualenv with nbgrader at ``env_dir``; its python."""
    start = time.perf_counter()
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    constraints = env_dir / "constraints.txt"
    constraints.write_text(lock_constraints())
    run([py, "-m", "pip", "install", "--quiet", "-c", constraints, NBGRADER, *PACKAGES],
        env=clean_env(env_dir))
    # the helpers, as reference/instructors.md says (editable: the package has subpackages)
    run([py, "-m", "pip", "install", "--quiet", "--no-deps", "-e", ROOT], env=clean_env(env_dir))
    (env_dir / ".complete").write_text(NBGRADER + "\n")
    print(f"nbgrader environment built in {time.perf_counter() - start:.0f} s", flush=True)
    return py


@pytest.fixture(scope="module")
def nbgrader_python(tmp_path_factory) -> Path:
    if os.environ.get("BOOK_NBGRADER_FRESH", "").strip() in ("1", "true", "yes"):
        return build_env(tmp_path_factory.mktemp("nbgrader-env") / "env")
    env_dir = ROOT / "_build" / "nbgrader-env" / env_key()
    if (env_dir / ".complete").is_file():
        print(f"reusing the nbgrader environment {env_dir}", flush=True)
        return env_dir / "bin" / "python"
    for old in (ROOT / "_build" / "nbgrader-env").glob("*"):  # other keys: stale
        shutil.rmtree(old, ignore_errors=True)
    return build_env(env_dir)


def clean_env(env_dir: Path, jupyter: Path | None = None) -> dict:
    """This process's environment with ``env_dir``'s bin first, no ``PYTHONPATH`` and
    (``jupyter``) Jupyter's data and config folders of its own."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "JUPYTER_PATH",
                        "JUPYTER_CONFIG_PATH", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR")}
    env.update(PATH=f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               VIRTUAL_ENV=str(env_dir),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if jupyter is not None:
        env.update(JUPYTER_DATA_DIR=str(jupyter / "data"),
                   JUPYTER_CONFIG_DIR=str(jupyter / "config"),
                   JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"))
    return env


def answer(source_nb, grade_id: str) -> str:
    """The reference solution of an answer cell: the source cell without nbgrader's markers."""
    cell = next(c for c in source_nb.cells if c.metadata["nbgrader"]["grade_id"] == grade_id)
    return "\n".join(ln for ln in cell.source.splitlines()
                     if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def submissions(course: Path, assignment: str, students) -> None:
    """Write the submissions of ``assignment`` by ``students`` (see the module docstring)."""
    source = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    release = course / "release" / assignment / f"{assignment}.ipynb"
    for student in students:
        nb = nbformat.read(release, as_version=4)
        answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
        assert answers and all("raise NotImplementedError()" in c.source for c in answers)
        for c in answers:
            gid = c.metadata["nbgrader"]["grade_id"]
            c.source = answer(source, gid)
            if student != "honest" and gid == f"{WRONG_LABEL}-answer":
                assert RIGHT_TEXT in c.source, c.source
                c.source = c.source.replace(RIGHT_TEXT, WRONG_TEXT)
                c.source = PREFIX.get(student, "") + c.source
        dest = course / "submitted" / student / assignment / f"{assignment}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)


SCORES = """
import json, sys
from nbgrader.api import Gradebook
out = {}
with Gradebook(sys.argv[1]) as gb:
    for student in sys.argv[3:]:
        sub = gb.find_submission(sys.argv[2], student)
        out[student] = {"score": sub.score, "max_score": sub.max_score, "cells": {
            g.name: g.score for nb in sub.notebooks for g in nb.grades}}
print("SCORES " + json.dumps(out))
"""


def test_nbgrader_pipeline(nbgrader_python, tmp_path):
    py = nbgrader_python
    env_dir = py.parent.parent
    env = clean_env(env_dir, tmp_path / "jupyter")
    version = run([py, "-c", "import helpers, nbgrader; print(nbgrader.__version__, "
                   "helpers.__file__)"], cwd=tmp_path, env=env).stdout.split()
    assert version[0] == NBGRADER.split("==")[1], version
    assert Path(version[1]).resolve().is_relative_to(ROOT.resolve()), version
    course = tmp_path / "course"
    run([sys.executable, "-m", "booktools.nbgrader_course", "--out", course], cwd=ROOT)
    # every class nbgrader_config.py configures is one nbgrader has (a misspelt one is
    # silently ignored)
    configured = set(re.findall(r"^c\.(\w+)\.", (course / "nbgrader_config.py").read_text(), re.M))
    known = run([py, "-c", "from nbgrader.apps import NbGraderApp; print(' '.join(sorted("
                 "{c.__name__ for c in NbGraderApp()._classes_inc_parents()})))"], env=env)
    assert configured and configured <= set(known.stdout.split()), configured - set(known.stdout.split())
    db = f"sqlite:///{course / 'gradebook.db'}"
    nbgrader = [py, "-m", "nbgrader"]
    times = {}

    assignments = sorted(p.name for p in (course / "source").iterdir())
    assert ASSIGNMENT in assignments, assignments
    students = ["honest", "wrong", "shadow", "patched"]

    start = time.perf_counter()
    for a in assignments:
        run([*nbgrader, "generate_assignment", a, "--db", db], cwd=course, env=env)
    times[f"generate_assignment ({len(assignments)} chapters)"] = time.perf_counter() - start
    release = (course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in release and "HIDDEN TESTS" not in release
    assert "G2.sum" not in release, "the release shows a solution"

    for a in assignments:
        submissions(course, a, students if a == ASSIGNMENT else ["honest"])
    for a in assignments:
        start = time.perf_counter()
        run([*nbgrader, "autograde", a, "--db", db], cwd=course, env=env)
        n = len(students) if a == ASSIGNMENT else 1
        times[f"autograde {a} ({n} submission{'s' * (n > 1)})"] = time.perf_counter() - start
    start = time.perf_counter()
    run([*nbgrader, "generate_feedback", ASSIGNMENT, "--db", db], cwd=course, env=env)
    times[f"generate_feedback {ASSIGNMENT}"] = time.perf_counter() - start
    print("nbgrader times: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()), flush=True)

    # the book's solution of every exercise gets full points
    for a in assignments:
        proc = run([py, "-c", SCORES, db, a, "honest"], cwd=course, env=env)
        ref = json.loads(proc.stdout.split("SCORES ", 1)[1])["honest"]
        assert ref["max_score"] > 0 and ref["score"] == ref["max_score"], (a, ref)
    proc = run([py, "-c", SCORES, db, ASSIGNMENT, *students], cwd=course, env=env)
    scores = json.loads(proc.stdout.split("SCORES ", 1)[1])
    print(json.dumps(scores, indent=1), flush=True)
    honest, wrong, shadow, patched = (scores[s] for s in ("honest", "wrong", "shadow", "patched"))
    assert honest["max_score"] > 0 and honest["score"] == honest["max_score"], honest
    assert 0 <= wrong["score"] < wrong["max_score"], wrong
    assert wrong["cells"][f"{WRONG_LABEL}-test"] == 0, wrong
    assert shadow == wrong, "a cell-level def graded_check changed the grade"
    assert patched == honest, ("patching the judge's module no longer earns credit: update "
                               "the nbgrader section of reference/instructors.md")

    def feedback(student: str) -> str:
        return (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()

    assert DIAGNOSIS in feedback("wrong") and DIAGNOSIS in feedback("shadow")
    assert DIAGNOSIS not in feedback("honest")
    assert f"{WRONG_LABEL}: correct on" in feedback("honest")
    # nbgrader puts the hidden tests back before it runs them, so the feedback shows them
    assert "BEGIN HIDDEN TESTS" in feedback("honest")

    # the book's grader on nbgrader's submitted/ layout (make grade SUBMISSIONS=.../submitted),
    # chapter 5 only: the other chapters' solutions would only add to the time
    layout = tmp_path / "submitted"
    for student in students:
        shutil.copytree(course / "submitted" / student / ASSIGNMENT, layout / student / ASSIGNMENT)
    out = tmp_path / "grades.csv"
    start = time.perf_counter()
    # the interpreter by its folder's real path: the sandbox binds the resolved folders of
    # the Python installation, so a .venv that is a symlink (a git worktree's) is not there
    python = Path(sys.executable).parent.resolve() / Path(sys.executable).name
    run([python, "-m", "booktools.grade", layout, "--out", out], cwd=ROOT)
    print(f"book grader on submitted/: {time.perf_counter() - start:.0f} s", flush=True)
    with open(out, newline="") as fh:
        rows = {(r["student_file"].split("/")[0], r["exercise"]): r for r in csv.DictReader(fh)}
    labels = {c.metadata["nbgrader"]["grade_id"].removesuffix("-test")
              for c in nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
                                     as_version=4).cells if c.metadata["nbgrader"]["grade"]}
    assert set(rows) == {(s, lab) for s in students for lab in labels}, sorted(rows)
    for (student, lab), row in rows.items():
        # the book's grader gives the verdict nbgrader gives where nbgrader was not fooled
        points = scores["wrong" if student == "patched" else student]["cells"][f"{lab}-test"]
        assert (row["result"] == "pass") == (points > 0), (student, lab, row, points)
    for student in ("wrong", "shadow"):
        assert DIAGNOSIS in rows[(student, WRONG_LABEL)]["diagnosis"], student
    print("book grader on the patched submission:", rows[("patched", WRONG_LABEL)]["diagnosis"])
