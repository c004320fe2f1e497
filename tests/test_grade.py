"""The grader (helpers/grade.py) on a folder of generated submissions.

Each submission is the student copy of the synthetic chapter of tests/test_student.py
with the stubs filled in: right, transposed, crashing, looping forever, killing its
kernel, not valid JSON, and one that leaves a stub and deletes the other function.
One run of ``python -m helpers.grade`` grades them all, with short time limits.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time

import nbformat
import pytest

from helpers.grade import expected_labels
from helpers.student import student_notebook

from .conftest import ROOT
from .test_student import synthetic_chapter

LINEAR_OK = ("def my_linear_vjp(G, X, W):\n"
             "    X2, G2 = X.reshape(-1, X.shape[-1]), G.reshape(-1, G.shape[-1])\n"
             "    return G @ W.T, X2.T @ G2, G2.sum(0)")
RELU_OK = "def my_relu_vjp(G, Z):\n    return G * (Z > 0)"

SUBMISSIONS = {
    "correct": {"ex-linear-vjp": LINEAR_OK, "ex-mlp-relu-vjp": RELU_OK},
    "transpose": {"ex-linear-vjp": "def my_linear_vjp(G, X, W):\n"
                                   "    return G @ W.T, G.T @ X, G.sum(0)",
                  "ex-mlp-relu-vjp": RELU_OK},
    "crash": {"ex-linear-vjp": "def my_linear_vjp(G, X, W):\n    return 1 / 0",
              "ex-mlp-relu-vjp": RELU_OK,
              "extra": "undefined_name + 1  # a cell of the student's that fails"},
    "loop": {"ex-linear-vjp": "def my_linear_vjp(G, X, W):\n    while True:\n        pass",
             "ex-mlp-relu-vjp": RELU_OK},
    "dies": {"ex-linear-vjp": LINEAR_OK,
             "ex-mlp-relu-vjp": "import os\ndef my_relu_vjp(G, Z):\n    os._exit(1)"},
    "partial": {"ex-mlp-relu-vjp": None},  # linear: stub left; relu: cell deleted
}

EXPECTED = {  # (file, exercise) -> (result, regex the diagnosis must match)
    ("correct.ipynb", "ex-linear-vjp"): ("pass", "^$"),
    ("correct.ipynb", "ex-mlp-relu-vjp"): ("pass", "^$"),
    ("transpose.ipynb", "ex-linear-vjp"): ("fail", "dW is the transpose"),
    ("transpose.ipynb", "ex-mlp-relu-vjp"): ("pass", "^$"),
    ("crash.ipynb", "ex-linear-vjp"): ("fail", "raised ZeroDivisionError: division by zero"),
    ("crash.ipynb", "ex-mlp-relu-vjp"): ("pass", "^$"),
    ("loop.ipynb", "ex-linear-vjp"): ("fail", "time limit"),
    ("loop.ipynb", "ex-mlp-relu-vjp"): ("pass", "^$"),
    ("dies.ipynb", "ex-linear-vjp"): ("pass", "^$"),
    ("dies.ipynb", "ex-mlp-relu-vjp"): ("fail", "kernel died"),
    ("malformed.ipynb", "ex-linear-vjp"): ("fail", "not a valid notebook"),
    ("malformed.ipynb", "ex-mlp-relu-vjp"): ("fail", "not a valid notebook"),
    ("partial.ipynb", "ex-linear-vjp"): ("fail", "not implemented yet"),
    ("partial.ipynb", "ex-mlp-relu-vjp"): ("fail", "my_relu_vjp is not defined"),
}


def submission(answers: dict) -> nbformat.NotebookNode:
    """The student copy of the synthetic chapter with the stubs replaced by ``answers``."""
    nb = student_notebook(synthetic_chapter())
    cells = []
    for cell in nb.cells:
        label = cell.metadata.get("exercise")
        if label in answers:
            if answers[label] is None:
                continue  # the student deleted the cell
            cell.source = answers[label]
        cells.append(cell)
        if label == "ex-linear-vjp" and "extra" in answers:
            cells.append(nbformat.v4.new_code_cell(answers["extra"]))
    nb.cells = cells
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    for name, answers in SUBMISSIONS.items():
        nbformat.write(submission(answers), str(folder / f"{name}.ipynb"))
    good = nbformat.writes(submission(SUBMISSIONS["correct"]))
    (folder / "malformed.ipynb").write_text(good[:-40])  # a truncated save
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "helpers.grade", str(folder), "--cell-timeout", "3",
         "--timeout", "120", "--jobs", "2"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    seconds = time.perf_counter() - start
    print(f"python -m helpers.grade on {len(SUBMISSIONS) + 1} notebooks: {seconds:.1f} s")
    assert proc.returncode == 0, proc.stderr
    with open(folder / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return proc, rows, seconds


def test_csv_says_the_right_thing_for_each_submission(graded):
    _, rows, _ = graded
    got = {(r["student_file"], r["exercise"]): (r["result"], r["diagnosis"]) for r in rows}
    assert set(got) == set(EXPECTED)
    import re
    for key, (result, pattern) in EXPECTED.items():
        assert got[key][0] == result, (key, got[key])
        assert re.search(pattern, got[key][1]), (key, got[key][1], pattern)


def test_summary_line_and_columns(graded):
    proc, rows, seconds = graded
    assert list(rows[0]) == ["student_file", "exercise", "result", "diagnosis"]
    last = proc.stdout.strip().splitlines()[-1]
    passed = sum(r == "pass" for r, _ in EXPECTED.values())
    assert last.startswith(f"graded 7 notebooks, {len(EXPECTED)} exercise results: "
                           f"{passed} passed, {len(EXPECTED) - passed} failed"), last
    assert seconds < 120


def test_expected_labels_from_text_and_name(tmp_path):
    p = tmp_path / "alice_05_linear_layer.ipynb"
    assert expected_labels(p, "") == ["ex-linear-vjp", "ex-linear-nn-vjp"]
    q = tmp_path / "x.ipynb"
    assert expected_labels(q, "def my_relu_vjp (G, Z):") == ["ex-mlp-relu-vjp"]
    assert expected_labels(q, "nothing here") == []


def test_usage_errors(tmp_path):
    run = [sys.executable, "-m", "helpers.grade"]
    proc = subprocess.run(run + [str(tmp_path / "missing")], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2 and "is not a folder" in proc.stderr
    proc = subprocess.run(run + [str(tmp_path), "--exercises", "ex-nope"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 2 and "unknown exercise" in proc.stderr
