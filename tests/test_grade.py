"""The grader (booktools/grade.py) on folders of hostile submissions, through the same
entry point as `make grade` (`python -m booktools.grade`).

Two runs, each one call of the grader with short limits and two jobs:

- VETTED, the default: the right answer passes; wrong, crashing, looping, stub,
  deleted and malformed submissions get their diagnosis; the cheats of issue 13
  (patching assert_close/allclose/equal, replacing importlib.reload, rewriting
  sys.stdout, delegating to helpers directly, by alias, via getattr, importlib,
  sys.modules or __import__, torch.autograd/.backward/torch.func where forbidden, a
  tensor subclass with __eq__) get no credit; a memory bomb, NaN and a huge tensor
  cost only their own exercise.
- UNVETTED (`--no-vet`): the static check is off, so the sandbox alone must hold: a
  fork bomb, writing outside its folder, reading another submission, the instructor's
  home and the book, importing helpers, opening a network socket, killing the kernel,
  a forged, a pickled and a missing outputs file. Each costs only its own exercise.

Every case asserts the verdict and a regex of the diagnosis. The sandbox tests are
skipped (with the reason) where bubblewrap does not work. The vetted run is part of
`make test`; the unvetted run tests the sandbox, an environment of its own, and is marked
``envs`` (`make test-envs`, which CI runs).
"""

from __future__ import annotations

import csv
import re
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from booktools import sandbox
from booktools.grade import _parse_shard, _shard, expected_labels
from booktools.grade import main as grade_main
from booktools.student import student_notebook

from .conftest import ROOT
from .test_student import synthetic_chapter

HAVE_SANDBOX, SANDBOX_WHY = sandbox.status()
HAVE_CGROUP = sandbox.cgroup_support()[0] is not None
HAVE_TMPFS = sandbox.workdir_support()

LINEAR_OK = ("def my_linear_vjp(G, X, W):\n"
             "    X2, G2 = X.reshape(-1, X.shape[-1]), G.reshape(-1, G.shape[-1])\n"
             "    return G @ W.T, X2.T @ G2, G2.sum(0)")
RESIDUAL_SIG = "def my_residual_mlp_backward(dZ3, X, W1, b1, W2, b2, W3, b3, lam):\n"
RESIDUAL_OK = RESIDUAL_SIG + textwrap.indent(textwrap.dedent("""\
    Z1 = X @ W1 + b1
    A1 = torch.relu(Z1)
    Z2 = A1 @ W2 + b2
    A2 = A1 + torch.relu(Z2)
    dA2 = dZ3 @ W3.T
    dZ2 = dA2 * (Z2 > 0)
    dZ1 = (dZ2 @ W2.T + dA2) * (Z1 > 0)
    return (dZ1 @ W1.T, X.T @ dZ1 + lam * W1, dZ1.sum(0), A1.T @ dZ2 + lam * W2,
            dZ2.sum(0), A2.T @ dZ3 + lam * W3, dZ3.sum(0))"""), "    ")
ALL_SEVEN = "(X, W1, b1, W2, b2, W3, b3)"  # seven tensors, to return wrong ones of
ZEROS = ("    return (torch.zeros_like(X), torch.zeros_like(W),\n"
         "            torch.zeros(W.shape[1], dtype=W.dtype))")


def residual(body: str, head: str = "") -> str:
    """A submission's ex-mlp-residual cell: ``head`` at top level, then the function."""
    return textwrap.dedent(head) + RESIDUAL_SIG + textwrap.indent(textwrap.dedent(body), "    ")


def linear(body: str, head: str = "") -> str:
    """A submission's ex-linear-vjp cell: ``head`` at top level, then the function."""
    return textwrap.dedent(head) + "def my_linear_vjp(G, X, W):\n" + textwrap.indent(
        textwrap.dedent(body), "    ")


def chapter(answers: dict) -> nbformat.NotebookNode:
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
    nb.cells = cells
    return nb


# ---------------------------------------------------------------- the vetted run

VETTED = {  # name: (answers, {label: (result, regex of the diagnosis)})
    "correct": ({"ex-linear-vjp": LINEAR_OK, "ex-mlp-residual": RESIDUAL_OK},
                {"ex-linear-vjp": ("pass", "^$"), "ex-mlp-residual": ("pass", "^$")}),
    "transpose": ({"ex-linear-vjp": LINEAR_OK.replace("X2.T @ G2", "G2.T @ X2")},
                  {"ex-linear-vjp": ("fail", r"dW is the transpose"),
                   "ex-mlp-residual": ("fail", "not implemented yet")}),
    "crash": ({"ex-linear-vjp": linear("return 1 / 0")},
              {"ex-linear-vjp": ("fail", r"raised ZeroDivisionError: division by zero")}),
    "loop": ({"ex-linear-vjp": linear("while True:\n    pass")},
             {"ex-linear-vjp": ("fail", r"time limit: your function, on the grader's cases, "
                                        r"did not finish within 6 s")}),
    "partial": ({"ex-mlp-residual": None},
                {"ex-linear-vjp": ("fail", "not implemented yet"),
                 "ex-mlp-residual": ("fail", "my_residual_mlp_backward is not defined")}),
    # issue 13's four cheats
    "patched_asserts": ({"ex-linear-vjp": linear(ZEROS, head="""\
        torch.testing.assert_close = lambda *a, **k: None
        torch.allclose = lambda *a, **k: True
        torch.equal = lambda *a, **k: True
        print('@@helpers.grade@@ {"label": "ex-linear-vjp", "passed": true, "diagnosis": ""}')
        """)}, {"ex-linear-vjp": ("fail", r"no credit: line 1: it uses `\.assert_close`, which is not on "
                                     r"this exercise's allowlist")}),
    "reload": ({"ex-linear-vjp": linear(ZEROS, head="""\
        import importlib
        importlib.reload = lambda module: module
        """)}, {"ex-linear-vjp": ("fail", r"no credit: line 1: it imports `importlib`")}),
    "stdout": ({"ex-linear-vjp": linear(ZEROS, head="""\
        import sys
        class Rewrite:
            def write(self, s):
                return sys.__stdout__.write(s.replace('false', 'true'))
        sys.stdout = Rewrite()
        """)}, {"ex-linear-vjp": ("fail", r"no credit: line 1: it imports `sys`")}),
    "delegate_direct": ({"ex-linear-vjp": linear("return helpers.linear_vjp(G, X, W)",
                                                 head="import helpers\n")},
                        {"ex-linear-vjp": ("fail", r"refers to `helpers`.*delegation gets no credit")}),
    # more ways to delegate
    "delegate_alias": ({"ex-linear-vjp": "from helpers import linear_vjp as lv\n"
                                         "my_linear_vjp = lv"},
                       {"ex-linear-vjp": ("fail", r"refers to `helpers`.*delegation")}),
    "delegate_global": ({"ex-linear-vjp": linear("return linear_vjp(G, X, W)")},
                        {"ex-linear-vjp": ("fail", r"refers to `linear_vjp`, the book's own code")}),
    "delegate_getattr": ({"ex-linear-vjp": linear(
        "return getattr(__import__('help' + 'ers'), 'linear_vjp')(G, X, W)")},
        {"ex-linear-vjp": ("fail", r"no credit: line 2: it uses `(getattr|__import__)`")}),
    "delegate_importlib": ({"ex-linear-vjp": linear(
        "return importlib.import_module('helpers').linear_vjp(G, X, W)", head="import importlib\n")},
        {"ex-linear-vjp": ("fail", r"it imports `importlib`")}),
    "delegate_sys_modules": ({"ex-linear-vjp": linear(
        "return torch.sys.modules['helpers'].linear_vjp(G, X, W)")},
        {"ex-linear-vjp": ("fail", r"it uses `(sys|modules)`, which the grader cannot vet")}),
    "delegate_dunder": ({"ex-linear-vjp": linear(
        "return my_linear_vjp.__globals__['__builtins__']['__import__']('helpers')"
        ".linear_vjp(G, X, W)")},
        {"ex-linear-vjp": ("fail", r"attribute `__globals__`")}),
    "delegate_frames": ({"ex-linear-vjp": linear(
        "g = (i for i in [1])\nreturn g.gi_frame.f_back.f_globals['helpers'].linear_vjp(G, X, W)")},
        {"ex-linear-vjp": ("fail", r"attribute `(gi_frame|f_back|f_globals)`")}),
    "autograd": ({"ex-linear-vjp": linear("""\
        X = X.detach().requires_grad_(True)
        (dX,) = torch.autograd.grad((X @ W * G).sum(), X)
        return dX, None, None""")},
        {"ex-linear-vjp": ("fail", r"`requires_grad_` \(autograd\), which this exercise forbids")}),
    "backward": ({"ex-mlp-residual": residual("""\
        X = X.clone()
        X.requires_grad = True
        (torch.relu(X @ W1) * 1.0).sum().backward()
        return X.grad""")},
                 {"ex-mlp-residual": ("fail", r"(autograd\), which this exercise forbids)")}),
    "torch_func": ({"ex-mlp-residual": residual("return vjp(torch.relu, X)[1](X)[0]",
                                                head="from torch.func import vjp\n")},
                   {"ex-mlp-residual": ("fail", r"`func` \(autograd\)")}),
    "alias_autograd": ({"ex-mlp-residual": residual("return t.autograd.grad(X.relu(), X, X)[0]",
                                                    head="t = torch\n")},
                       {"ex-mlp-residual": ("fail", r"`(grad|autograd)` \(autograd\)")}),
    "tensor_subclass": ({"ex-mlp-residual": residual(
        f"return tuple(torch.zeros_like(t).as_subclass(Liar) for t in {ALL_SEVEN})",
        head="class Liar(torch.Tensor):\n    def __eq__(self, other):\n        return True\n")},
        {"ex-mlp-residual": ("fail", r"name `__eq__` starts with _")}),
    "outside_cell": ({"ex-mlp-residual": residual("return mask(X) * dZ3")},
                     {"ex-mlp-residual": ("fail", r"uses `mask`, which this cell does not define")}),
    # issue 23 §6: a stub, then the name rebound to a working function: the rebinding runs
    "stub_then_rebind": ({"ex-linear-vjp": "def my_linear_vjp(G, X, W):\n"
                                           "    raise NotImplementedError('todo')\n\n"
                                           + LINEAR_OK.replace("def my_linear_vjp", "def mine")
                                           + "\n\nmy_linear_vjp = mine\n"},
                         {"ex-linear-vjp": ("pass", "^$")}),
    # issue 23 §5: a 6 MB literal in the cell is not parsed in the grader's process
    "huge_cell": ({"ex-linear-vjp": "BIG = [" + "0, " * 2_000_000 + "]\n" + LINEAR_OK},
                  {"ex-linear-vjp": ("fail", r"no credit: the cell .*has \d+ characters "
                                             r"\(at most 100000\)")}),
    # what the sandboxed kernel runs, judged as data
    "memory_bomb": ({"ex-mlp-residual": residual(
        "big = torch.empty(2 ** 30, dtype=torch.float64)  # 8 GB\nreturn None")},
        {"ex-mlp-residual": ("fail", r"raised RuntimeError: .*can't allocate memory.*out of memory")}),
    "nan": ({"ex-mlp-residual": residual(f"return tuple(t * float('nan') for t in {ALL_SEVEN})")},
            {"ex-mlp-residual": ("fail", r"contains NaN or inf")}),
    "huge": ({"ex-mlp-residual": residual("return torch.zeros(1_500_000, dtype=torch.float64)")},
             {"ex-mlp-residual": ("fail", r"malformed outputs: (a tensor has 1500000 entries|the outputs file is \d+ bytes)")}),
}


UNVETTED_UID = sandbox.BASE_UID + 100  # its own uids: the vetted run may be grading too


def _start(folder: Path, *flags: str):
    return folder, time.perf_counter(), subprocess.Popen(
        [sys.executable, "-m", "booktools.grade", str(folder), "--cell-timeout", "6",
         "--timeout", "120", "--jobs", "2", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _finish(handle):
    folder, start, popen = handle
    out, err = popen.communicate(timeout=900)
    seconds = time.perf_counter() - start
    proc = subprocess.CompletedProcess(popen.args, popen.returncode, out, err)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(folder / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    got = {(r["student_file"], r["exercise"]): (r["result"], r["diagnosis"]) for r in rows}
    return proc, got, seconds


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    """The vetted run (`make test`)."""
    return _finish(_start(_vetted_folder(tmp_path_factory)))


@pytest.fixture(scope="module")
def unvetted(tmp_path_factory):
    """The unvetted run: the sandbox alone, an environment of its own (`make test-envs`)."""
    if not HAVE_SANDBOX:
        pytest.skip(f"no sandbox here: {SANDBOX_WHY}")
    folder = _unvetted_folder(tmp_path_factory)
    handle = _start(folder, "--no-vet", "--processes", "128", "--uid-base", str(UNVETTED_UID),
                    "--workdir-mb", "256")
    return _finish(handle) + (folder,)


def _vetted_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vetted")
    for name, (answers, _) in VETTED.items():
        nb = chapter(answers)
        if name not in ("correct", "transpose", "partial"):  # grade only what is named
            nb.cells = [c for c in nb.cells if c.metadata.get("exercise") in answers
                        or c.cell_type == "markdown" and any(f":label: {lab}" in c.source
                                                             for lab in answers)]
        nbformat.write(nb, str(folder / f"{name}.ipynb"))
    good = nbformat.writes(chapter(VETTED["correct"][0]))
    (folder / "malformed.ipynb").write_text(good[:-40])  # a truncated save
    # issue 23 §5: only regular files are graded: a folder named like a chapter, and a
    # link to the book's own chapter (solutions included: unzip can produce one)
    (folder / "x_05_linear_layer.ipynb").mkdir()
    (folder / "link_05_linear_layer.ipynb").symlink_to(ROOT / "chapters" / "05_linear_layer.ipynb")
    # 60 MB of nested empty lists: over a gigabyte once parsed, in the parser's own limited
    # process (booktools/readnb.py), never in the grader's
    with open(folder / "nested_05_linear_layer.ipynb", "w") as fh:
        fh.write('{"metadata": {"x": [' + "[]," * 20_000_000 + '[]]}, "cells": []}')
    return folder


def _check(got, table, extra=()):
    expected = {(f"{name}.ipynb", lab): want for name, (_, labels) in table.items()
                for lab, want in labels.items()}
    expected.update(dict(extra))
    assert set(got) == set(expected), set(got) ^ set(expected)
    bad = []
    for key, (result, pattern) in expected.items():
        if got[key][0] != result or not re.search(pattern, got[key][1]):
            bad.append((key, got[key], result, pattern))
    assert not bad, "\n".join(map(str, bad))


def test_vetted_run_gives_each_submission_its_verdict(vetted):
    proc, got, seconds = vetted
    print(f"vetted run: {len(got)} results in {seconds:.1f} s")
    _check(got, VETTED, {
        ("malformed.ipynb", "ex-linear-vjp"): ("fail", "not a valid notebook"),
        ("malformed.ipynb", "ex-mlp-residual"): ("fail", "not a valid notebook"),
        **{(f"{kind}_05_linear_layer.ipynb", lab): ("fail", r"not a valid notebook \(.*not a "
                                                             r"regular file")
           for kind in ("x", "link") for lab in ("ex-linear-vjp", "ex-linear-nn-vjp")},
        **{("nested_05_linear_layer.ipynb", lab): ("fail", r"not a valid notebook|is not defined")
           for lab in ("ex-linear-vjp", "ex-linear-nn-vjp")}})


def test_the_graders_own_peak_memory_stays_under_500_mb(vetted):
    """Issue 23: every hostile file of the vetted run (a 6 MB cell, 60 MB of nested JSON,
    links, folders, outputs of every kind) costs the grader's own process little."""
    _assert_grader_peak_under(vetted[0], 500)


def _assert_grader_peak_under(proc, mb):
    m = re.search(r"peak memory: (\d+) MB \(this grader\)", proc.stderr)
    assert m, proc.stderr[-2000:]
    print(f"grader peak memory: {m.group(1)} MB")
    assert int(m.group(1)) < mb, proc.stderr[-2000:]


@pytest.mark.envs
def test_the_graders_own_peak_memory_under_the_unvetted_run(unvetted):
    """Issue 23: the flood, the links, the forged and huge outputs of the unvetted run."""
    _assert_grader_peak_under(unvetted[0], 500)


def test_first_line_says_whether_the_sandbox_is_used_and_summary(vetted):
    proc, got, _ = vetted
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("sandbox: on (" if HAVE_SANDBOX else "sandbox: OFF ("), lines[0]
    if HAVE_SANDBOX:
        assert ("; per sandbox (cgroup v" if HAVE_CGROUP else "; no limit per sandbox") in lines[0]
        assert ("writable folder: a tmpfs of 512 MB" if HAVE_TMPFS
                else "writable folder on the disk") in lines[0]
    passed = sum(r == "pass" for r, _ in got.values())
    assert lines[-1].startswith(f"graded {len(VETTED) + 4} notebooks, {len(got)} exercise "
                                f"results: {passed} passed, {len(got) - passed} failed")
    assert "notebooks per minute" in lines[-1]


# ------------------------------------------------------------ the unvetted run

PROBE = '''\
import os, socket
def my_residual_mlp_backward(dZ3, X, W1, b1, W2, b2, W3, b3, lam):
    report = []
    def attempt(name, action):
        try:
            action()
            report.append(f"{name}: ALLOWED")
        except BaseException as exc:
            report.append(f"{name}: blocked")  # short: a diagnosis quotes 300 characters
    attempt("write-book", lambda: open(@BOOK@ + "/pwned", "w").write("x"))
    attempt("write-tmp", lambda: open("/tmp/pwned", "w").write("x"))
    attempt("read-other", lambda: open(@OTHER@).read())
    attempt("read-home", lambda: open(@HOME_FILE@).read())
    attempt("read-book", lambda: open(@BOOK@ + "/helpers/layers.py").read())
    attempt("read-second-checkout", lambda: open(@SECOND@).read())
    attempt("read-var-tmp", lambda: os.listdir("/var/tmp"))
    attempt("import-helpers", lambda: __import__("helpers"))
    attempt("network", lambda: socket.create_connection(("1.1.1.1", 53), timeout=3))
    raise RuntimeError("; ".join(report))
'''

UNVETTED = {
    # issue 23 §4: limits per sandbox, not per process: three children of 1 GiB each (under
    # the 4 GB address space of each) cannot all live at once in a 2 GB group; without a
    # cgroup (the first line says so) they can, and the test says that instead
    "group_memory": ({"ex-mlp-residual": residual("""\
        if os.path.exists("forked"):  # only the first case forks
            raise RuntimeError(open("forked").read())
        pids = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                block = b"x" * 2 ** 30  # 1 GiB, written
                time.sleep(2)
                os._exit(0)
            pids.append(pid)
        alive = 0
        for pid in pids:
            _, st = os.waitpid(pid, 0)
            alive += os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0
        open("forked", "w").write(f"{alive} of 3 children held 1 GiB at once")
        raise RuntimeError(open("forked").read())""", head="import os, time\n")},
        {"ex-mlp-residual": ("fail", r"raised RuntimeError: [012] of 3 children|memory limit: "
                                     r"the sandbox's processes together"
                             if HAVE_CGROUP else r"raised RuntimeError: 3 of 3 children")}),
    # issue 23 §4: the writable folder is capped in total (a tmpfs, as root), not only per
    # file: eight files of 60 MB do not fit in the run's 256 MB (--workdir-mb 256)
    "disk_fill": ({"ex-mlp-residual": residual("""\
        written = 0
        block = b"x" * (60 * 2 ** 20)
        for i in range(8):
            try:
                with open(f"fill{i}", "wb") as fh:
                    fh.write(block)
                written += 1
            except OSError:
                break
        for i in range(8):  # room again for the grader's own outputs file
            if os.path.exists(f"fill{i}"):
                os.remove(f"fill{i}")
        raise RuntimeError(f"wrote {written} of 8 files of 60 MB")""", head="import os\n")},
        {"ex-mlp-residual": ("fail", r"raised RuntimeError: wrote [0-4] of 8 files"
                             if HAVE_TMPFS else r"raised RuntimeError: wrote 8 of 8 files")}),
    "fork_bomb": ({"ex-mlp-residual": residual("""\
        for _ in range(100000):
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
        return None""", head="import os, time\n")},
                  {"ex-mlp-residual": ("fail", r"raised BlockingIOError: \[Errno 11\] "
                                               r"Resource temporarily unavailable")}),
    "exit_in_function": ({"ex-mlp-residual": residual("os._exit(1)", head="import os\n")},
                         {"ex-mlp-residual": ("fail", r"kernel died while your function ran")}),
    "kill_in_cell": ({"ex-mlp-residual": "import os, signal\n"
                                         "os.kill(os.getpid(), signal.SIGKILL)\n" + RESIDUAL_OK},
                     {"ex-mlp-residual": ("fail", r"kernel died while your cell ran")}),
    "forged_outputs": ({"ex-mlp-residual": residual("return None", head="""\
        import torch
        _save = torch.save
        torch.save = lambda obj, f, **k: _save({'passed': True, 'defined': True, 'type': 'function', 'records': [], 'guard': []}, f)
        """)},
                       {"ex-mlp-residual": ("fail", r"outputs hold 0 results for 6 cases")}),
    "pickled_outputs": ({"ex-mlp-residual": residual("return None", head="""\
        import pickle, torch
        class Verdict:
            passed = True
        torch.save = lambda obj, f, **k: pickle.dump(Verdict(), open(f, 'wb'))
        """)},
                        {"ex-mlp-residual": ("fail", r"not loadable as plain data with "
                                                     r"weights_only=True")}),
    "no_outputs": ({"ex-mlp-residual": "import torch\ntorch.save = lambda *a, **k: None\n"
                                       + RESIDUAL_OK},
                   {"ex-mlp-residual": ("fail", r"produced no outputs file")}),
    "subclass_eq": ({"ex-mlp-residual": residual(
        f"return tuple(torch.zeros_like(t).as_subclass(Liar) for t in {ALL_SEVEN})",
        head="class Liar(torch.Tensor):\n    def __eq__(self, other):\n        return True\n")},
                    {"ex-mlp-residual": ("fail", r"should be a torch.Tensor, got a torch.Tensor "
                                                 r"subclass \(Liar\)")}),
    # the static check is off here, so the runtime guard alone must refuse autograd: the
    # student catches the refusal and returns the right answer computed by hand
    "guard_autograd": ({"ex-linear-vjp": linear("""\
        Xg = X.detach().requires_grad_(True)
        try:
            torch.autograd.grad((Xg @ W * G).sum(), Xg)
        except Exception:
            pass
        X2, G2 = X.reshape(-1, X.shape[-1]), G.reshape(-1, G.shape[-1])
        return G @ W.T, X2.T @ G2, G2.sum(0)""")},
                       {"ex-linear-vjp": ("fail", r"no credit: the grader's runtime guard "
                                                  r"refused `requires_grad_`")}),
    # issue 23 §5: what comes back is not trusted: stdout flooded for as long as the time
    # limit allows costs the grader nothing (it is never read); status.json and outputs.pt as links to /dev/zero are
    # refused without being followed
    "flood": ({"ex-linear-vjp": linear("""\
        chunk = b"x" * 2 ** 20
        while True:  # stdout flooded until the time limit: the grader never reads it
            os.write(1, chunk)""", head="import os\n")},
              {"ex-linear-vjp": ("fail", r"time limit: your function, on the grader's cases, "
                                         r"did not finish")}),
    "status_link": ({"ex-linear-vjp": linear("""\
        os.symlink("/dev/zero", "status.json")
        os._exit(1)""", head="import os\n")},
                    {"ex-linear-vjp": ("fail", r"no outputs and the worker no status")}),
    "outputs_link": ({"ex-linear-vjp": "import os\nos.symlink('/dev/zero', 'outputs.pt')\n"
                                       + LINEAR_OK},
                     {"ex-linear-vjp": ("fail", r"malformed outputs: outputs.pt is not a "
                                                r"regular file")}),
    "stdout_and_reload": ({"ex-linear-vjp": linear(ZEROS, head="""\
        import importlib, sys
        importlib.reload = lambda module: module
        class Rewrite:
            def write(self, s):
                return sys.__stdout__.write(s.replace('fail', 'pass'))
            def flush(self):
                pass
        sys.stdout = Rewrite()
        """)}, {"ex-linear-vjp": ("fail", r"dX has wrong values")}),
}


def _unvetted_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unvetted")
    home = Path.home()
    home_file = next((str(p) for p in sorted(home.iterdir()) if p.is_file()), str(home / "x"))
    # a second checkout of the book in a folder the grader knows nothing about (issue 23:
    # a sandbox that hid only known folders showed it): the empty root must not show it
    import tempfile

    second = Path(tempfile.mkdtemp(prefix="book-second-checkout-", dir="/var/tmp"))
    (second / "helpers").mkdir()
    (second / "helpers" / "layers.py").write_text("def linear_vjp(G, X, W): ...\n")
    probe = PROBE
    for key, value in {"BOOK": str(ROOT), "OTHER": str(folder / "fork_bomb.ipynb"),
                       "HOME_FILE": home_file, "HOME": str(home),
                       "SECOND": str(second / "helpers" / "layers.py")}.items():
        probe = probe.replace(f"@{key}@", repr(value))
    table = dict(UNVETTED, probe=({"ex-mlp-residual": probe}, {}))
    for name, (answers, _) in table.items():
        nb = chapter(answers)
        nb.cells = [c for c in nb.cells if c.metadata.get("exercise") in answers
                    or c.cell_type == "markdown" and any(f":label: {lab}" in c.source
                                                         for lab in answers)]
        nbformat.write(nb, str(folder / f"{name}.ipynb"))
    return folder


@pytest.mark.envs
def test_unvetted_run_the_sandbox_alone_holds(unvetted):
    proc, got, seconds, _ = unvetted
    print(f"unvetted run: {len(got)} results in {seconds:.1f} s")
    assert "static check: OFF" in proc.stdout.splitlines()[1]
    probe = got.pop(("probe.ipynb", "ex-mlp-residual"))
    _check(got, UNVETTED)
    assert probe[0] == "fail"
    for name in ("write-book", "write-tmp", "read-other", "read-home", "read-book",
                 "read-second-checkout", "read-var-tmp", "import-helpers", "network"):
        m = re.search(rf"{name}: (\w+)", probe[1])
        assert m and m.group(1) == "blocked", (name, probe[1])
    assert not (ROOT / "pwned").exists()
    # the fork bomb's sleeping children died with their sandbox (its PID namespace)
    if __import__("os").geteuid() == 0:
        from booktools.grade import _nproc_of
        assert sum(_nproc_of(UNVETTED_UID + k) for k in range(2)) == 0


# ------------------------------------------------------------------ fast checks

def test_expected_labels_from_text_and_name(tmp_path):
    p = tmp_path / "alice_05_linear_layer.ipynb"
    assert expected_labels(p, "") == ["ex-linear-vjp", "ex-linear-nn-vjp"]
    q = tmp_path / "x.ipynb"
    assert expected_labels(q, "def my_residual_mlp_backward (dZ3, X,") == ["ex-mlp-residual"]
    assert expected_labels(q, "nothing here") == []


def test_shards_partition_the_class(tmp_path):
    paths = [Path(f"s{i:02d}.ipynb") for i in range(10)]
    shares = [_shard(paths, (k, 3)) for k in (1, 2, 3)]
    assert sorted(sum(shares, [])) == paths and sum(map(len, shares)) == 10
    assert _parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x"):
        with pytest.raises(Exception):
            _parse_shard(bad)
    # through main(), what `python -m booktools.grade` calls (the vetted run above goes
    # through the module itself), on submissions rejected statically (no kernel is started)
    for i in range(5):
        nbformat.write(chapter({"ex-linear-vjp": linear("return helpers.linear_vjp(G, X, W)",
                                                        head="import helpers\n")}),
                       str(tmp_path / f"s{i}.ipynb"))
    files = set()
    for k in (1, 2):
        out = tmp_path / f"grades-{k}.csv"
        assert grade_main([str(tmp_path), "--shard", f"{k}/2", "--out", str(out),
                           "--exercises", "ex-linear-vjp"]) == 0
        with open(out, newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert all(r["result"] == "fail" and "delegation" in r["diagnosis"] for r in rows)
        files |= {r["student_file"] for r in rows}
        assert len(rows) == (3 if k == 1 else 2)
    assert files == {f"s{i}.ipynb" for i in range(5)}


def test_usage_errors(tmp_path, capsys):
    def run(*args):
        code = grade_main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    code, _, err = run(tmp_path / "missing")
    assert code == 2 and "is not a folder" in err
    code, _, err = run(tmp_path, "--exercises", "ex-nope")
    assert code == 2 and "unknown exercise" in err
    with pytest.raises(SystemExit) as info:  # argparse's own usage error
        run(tmp_path, "--shard", "3/2")
    assert info.value.code == 2 and "--shard" in capsys.readouterr().err
    code, out, _ = run(tmp_path, "--no-sandbox")
    assert code == 0
    assert out.splitlines()[0].startswith("sandbox: OFF (--no-sandbox)")


def test_real_chapters_solutions_pass_the_static_check():
    """Every code solution of the book is accepted by the delegation detector."""
    import helpers
    from booktools.vet import extract, find_cell, vet
    from helpers.exercises import EXERCISES

    from .conftest import chapter_paths

    seen = set()
    for path in chapter_paths():
        nb = nbformat.read(str(path), as_version=4)
        for label, ex in EXERCISES.items():
            cells = [c for c in nb.cells if c.metadata.get("exercise") == label
                     and "solution" in c.metadata.get("tags", [])]
            if cells:
                vet(extract(find_cell(cells, ex.func), ex.func), func=ex.func,
                    policy=ex.policy, reference_names=set(helpers.__all__),
                    provided=set(ex.policy.modules))
                seen.add(label)
    assert seen == set(EXERCISES)


VET = [  # (label, cell source, None if accepted else a regex of the diagnosis)
    ("ex-linear-vjp", "import torch.nn.functional as F\nfrom typing import Tuple\n"
                      "def my_linear_vjp(G, X, W) -> Tuple:\n    grad = G @ W.T\n"
                      "    return grad, F.linear(X.reshape(-1, 3).T, G.T), G.sum(0)", None),
    ("ex-linear-vjp", "print(my_linear_vjp(G, X, W))\nout = my_linear_vjp(G, X, W)\n" + LINEAR_OK,
     None),  # a test call in the cell is dropped, not rejected
    ("ex-linear-vjp", "%timeit 1\n" + LINEAR_OK, None),
    ("ex-linear-vjp", "def a(getattr):\n    return 1\n" + LINEAR_OK, r"`getattr`"),
    ("ex-linear-vjp", "import numpy as np\n" + LINEAR_OK, r"imports `numpy`"),
    ("ex-linear-vjp", "from torch import autograd\n" + LINEAR_OK, r"`autograd`"),
    ("ex-linear-vjp", "import torch.autograd as ag\n" + LINEAR_OK, r"`autograd`"),
    ("ex-linear-vjp", LINEAR_OK.replace("G2.sum(0)", "G2.sum(0) if exec('1') else 0"), r"`exec`"),
    ("ex-linear-vjp", LINEAR_OK.replace("G2.sum(0)", "torch.ops.aten.sum(G2, [0])"), r"`ops`"),
    ("ex-linear-vjp", LINEAR_OK.replace("G2.sum(0)", "G2.sum(0) + 0 * _"), r"starts with _"),
    ("ex-linear-vjp", "from typing import get_type_hints\n" + LINEAR_OK, r"get_type_hints"),
    ("ex-linear-vjp", "def my_linear_vjp(G, X, W)\n    return G", r"not valid Python"),
    ("ex-generalized-contract", "def my_contract(G, J):\n    return torch.einsum('i,ij->j', G, J)",
     r"`einsum`, which this exercise forbids"),
    ("ex-gradient-gate-graph", "def my_gate_graph_backward(x, y, g):\n"
                               "    return torch.func.vjp(torch.maximum, x, y)", r"`vjp` \(autograd\)"),
    ("ex-scalar-richardson", "def my_richardson_difference(f, x, h):\n"
                                     "    return float(torch.tensor(f(x)))", r"`torch`.*no torch"),
    ("ex-jacobian-builder", "def my_jacobian(f, x):\n"
                            "    return torch.autograd.functional.jacobian(f, x)",
     r"`(functional|jacobian)`, which this exercise forbids"),
    ("ex-jacobian-builder", "def my_jacobian(f, x):\n    return torch.func.jacrev(f)(x)",
     r"`(func|jacrev)`"),
    ("ex-jacobian-builder", "def my_jacobian(f, x):\n    x = x.detach().requires_grad_(True)\n"
                            "    y = f(x)\n    return torch.stack([torch.autograd.grad(y[i], x, "
                            "retain_graph=True)[0] for i in range(y.numel())])", None),
]


@pytest.mark.parametrize("label,source,pattern", VET, ids=[f"{i}-{v[0]}" for i, v in enumerate(VET)])
def test_static_check(label, source, pattern):
    import helpers
    from booktools.vet import Rejected, extract, vet
    from helpers.exercises import EXERCISES

    ex = EXERCISES[label]
    try:
        vet(extract(source, ex.func), func=ex.func, policy=ex.policy,
            reference_names=set(helpers.__all__), provided=set(ex.policy.modules))
    except Rejected as exc:
        assert pattern is not None, f"rejected: {exc}"
        assert re.search(pattern, str(exc)), str(exc)
    else:
        assert pattern is None, "accepted"


@pytest.mark.envs
def test_two_graders_at_once_claim_disjoint_uids_and_agree(tmp_path):
    """Two graders started together as root, with the same (default) uid base and two jobs
    each, claim four different uids (RLIMIT_NPROC counts per uid: shared uids would
    starve each other) and write the same verdicts for the same class."""
    import os

    if not HAVE_SANDBOX or os.geteuid() != 0:
        pytest.skip("needs the sandbox, as root (uids are claimed only then)")
    names = ("correct", "transpose", "crash")
    folders = []
    for k in range(2):
        folder = tmp_path / f"class{k}"
        folder.mkdir()
        for name in names:
            nbformat.write(chapter(VETTED[name][0]), str(folder / f"{name}.ipynb"))
        folders.append(folder)
    handles = [_start(f, "--uid-base", str(sandbox.BASE_UID + 200)) for f in folders]
    results = [_finish(h) for h in handles]
    uid_sets = []
    for proc, _, _ in results:
        m = re.search(r"sandbox uids: ([\d, ]+)", proc.stderr)
        assert m, proc.stderr[-2000:]
        uid_sets.append({int(u) for u in m.group(1).split(",")})
    assert all(len(u) == 2 for u in uid_sets) and not uid_sets[0] & uid_sets[1], uid_sets
    (_, got0, s0), (_, got1, s1) = results
    assert got0 == got1, (got0, got1)
    assert got0[("correct.ipynb", "ex-linear-vjp")] == ("pass", "")
    assert got0[("transpose.ipynb", "ex-linear-vjp")][0] == "fail"
    print(f"two graders at once: {s0:.1f} s and {s1:.1f} s, uids {uid_sets}")


def test_a_sandbox_that_cannot_start_python_refuses_to_grade(tmp_path, monkeypatch, capsys):
    """When bwrap works but the book's Python cannot start inside the sandbox (the issue's
    symlinked .venv), the grader grades nobody and says why, instead of failing every
    student with "killed"; the self-test is the real interpreter, not /bin/true."""
    if not HAVE_SANDBOX:
        pytest.skip(f"no sandbox here: {SANDBOX_WHY}")
    nbformat.write(chapter(VETTED["correct"][0]), str(tmp_path / "alice.ipynb"))
    monkeypatch.setattr(sandbox, "_SELF_TEST", False)
    monkeypatch.setattr(sandbox, "PROBE", "raise SystemExit('no torch in here')\n")
    code = grade_main([str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "cannot run the grader" in err and "no torch in here" in err, err
    assert not (tmp_path / "grades.csv").exists()
    monkeypatch.setattr(sandbox, "_SELF_TEST", False)
    monkeypatch.undo()


def test_a_cgroup_bounds_the_memory_of_all_its_processes_and_goes_away():
    """booktools.sandbox.Cgroup on its own: a 64 MB group, a child that writes 256 MB is
    killed by the kernel and the group says so; the group is removed afterwards."""
    if not HAVE_CGROUP:
        pytest.skip(f"no cgroup here: {sandbox.cgroup_support()[1]}")
    group = sandbox.Cgroup(f"book-test-{os.getpid()}", sandbox.Limits(group_memory_mb=64))
    dirs = list(group.dirs)
    try:
        proc = subprocess.run([sys.executable, "-c", "b = b'x' * 2 ** 28; print('survived')"],
                              capture_output=True, text=True, timeout=60,
                              preexec_fn=sandbox.preexec(sandbox.Limits(), group))
        assert proc.returncode == -9 and "survived" not in proc.stdout, proc
        assert group.oom_killed()
    finally:
        group.close()
    assert dirs and not any(d.exists() for d in dirs)


def test_the_sandbox_starts_the_book_python_through_a_linked_venv(tmp_path):
    """Issue 23 §4: a checkout whose .venv is a link into a folder the sandbox does not
    show (a shared or cached environment). The grader starts the interpreter by the
    link's path; the sandbox binds the resolved environment there, so the start-up
    self-test (the real interpreter importing torch, nbclient, ipykernel) passes."""
    if not HAVE_SANDBOX:
        pytest.skip(f"no sandbox here: {SANDBOX_WHY}")
    real = Path(sys.prefix).resolve()
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(real)
    python = clone / ".venv" / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-c", "from booktools import sandbox; print(sandbox._linked_prefixes()); "
                            "print('self-test:', sandbox.self_test())"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert str(clone / ".venv") in proc.stdout, proc.stdout  # it did go through the link
    assert "self-test: None" in proc.stdout, proc.stdout + proc.stderr[-1000:]


def test_every_cheat_and_honest_style_through_the_entry_point(tmp_path):
    """Issue 23 §1, families rather than spellings, through what `make grade` calls: each
    hostile spelling of tests/test_grade_policy.py (attribute lookup by string, match,
    library code that runs autograd, optimizers, aten ops, ...) gets no credit, with the
    static check's diagnosis; each honest style (helper functions, einsum, F.linear,
    prints) passes, run in the sandbox on fresh cases."""
    from tests.test_grade_policy import CHEATS, FD_LINEAR

    HONEST = [  # working solutions in several styles (leading dimensions (*, D) included)
        LINEAR_OK,
        "import torch.nn.functional as F\nfrom typing import Tuple\n"
        "def my_linear_vjp(G, X, W) -> Tuple:\n"
        "    G2, X2 = G.reshape(-1, G.shape[-1]), X.reshape(-1, X.shape[-1])\n"
        "    return F.linear(G, W), F.linear(X2.T, G2.T), G2.sum(0)\n",
        "def flat(a):\n    return a.reshape(-1, a.shape[-1])\n\n"
        "def my_linear_vjp(G, X, W):\n"
        "    dX = torch.einsum('...m,dm->...d', G, W)\n"
        "    return dX, torch.einsum('nd,nm->dm', flat(X), flat(G)), flat(G).sum(0)\n",
        "def my_linear_vjp(G, X, W):\n    print(G.shape)\n"
        "    dX = torch.matmul(G, W.transpose(0, 1))\n"
        "    G2 = G.reshape(-1, G.shape[-1])\n"
        "    return dX, X.reshape(-1, X.shape[-1]).mT @ G2, G2.sum(dim=0)\n",
    ]
    for i, src in enumerate(CHEATS):
        nbformat.write(chapter({"ex-linear-vjp": src}), str(tmp_path / f"cheat{i:02d}.ipynb"))
    for i, src in enumerate(HONEST):
        nbformat.write(chapter({"ex-linear-vjp": src}), str(tmp_path / f"honest{i}.ipynb"))
    for i, src in enumerate(FD_LINEAR):  # family 2: passes the static check, not the guard
        nbformat.write(chapter({"ex-linear-vjp": src}), str(tmp_path / f"fd{i}.ipynb"))
    out = tmp_path / "grades.csv"
    assert grade_main([str(tmp_path), "--out", str(out), "--exercises", "ex-linear-vjp",
                       "--jobs", "2"]) == 0
    with open(out, newline="") as fh:
        rows = {r["student_file"]: r for r in csv.DictReader(fh)}
    assert len(rows) == len(CHEATS) + len(HONEST) + len(FD_LINEAR)
    bad = [(name, r["result"], r["diagnosis"][:160]) for name, r in rows.items()
           if (name.startswith("cheat") and not (r["result"] == "fail"
                                                 and "no credit" in r["diagnosis"]))
           or (name.startswith("honest") and r["result"] != "pass")
           or (name.startswith("fd") and not (r["result"] == "fail" and re.search(
               r"runtime guard refused more than \d+ tensor operations", r["diagnosis"])))]
    assert not bad, bad
    print(f"entry point: {len(CHEATS)} cheats and {len(FD_LINEAR)} difference quotients "
          f"refused, {len(HONEST)} honest styles passed")
