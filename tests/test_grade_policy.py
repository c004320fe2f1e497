"""Issue 23, what a submission may call: every exercise declares an allowlist, and the
static pass rejects determined-student spellings while the book's solutions pass."""

import re

import pytest

LINEAR_OK = ("def my_linear_vjp(G, X, W):\n    G2 = G.reshape(-1, G.shape[-1])\n"
             "    return (G @ W.T, X.reshape(-1, X.shape[-1]).T @ G2, G2.sum(0))\n")

#: hostile spellings of ex-linear-vjp (issue 23's families 1), each must be rejected
CHEATS = [
    "def my_linear_vjp(G, X, W):\n    match torch:\n        case object(autograd=object(grad=g)):\n"
    "            return g\n",
    "import typing\ndef my_linear_vjp(G, X, W):\n    return typing.operator.attrgetter('autograd.grad')(torch)\n",
    "from operator import methodcaller\ndef my_linear_vjp(G, X, W):\n    return methodcaller('backward', G)\n",
    "from functools import update_wrapper\ndef my_linear_vjp(G, X, W):\n    return update_wrapper\n",
    "from functools import cached_property\ndef my_linear_vjp(G, X, W):\n    return cached_property\n",
    "def my_linear_vjp(G, X, W):\n    F = type('F', (torch.distributions.ExponentialFamily,), {})\n    return F\n",
    "def my_linear_vjp(G, X, W):\n    return torch.distributions.Normal(0, 1).entropy()\n",
    "def my_linear_vjp(G, X, W):\n    return torch.nn.grad.conv1d_input(X, W, G)\n",
    "def my_linear_vjp(G, X, W):\n    lin = torch.nn.Linear(3, 4)\n    opt = torch.optim.SGD(lin.parameters(), lr=1)\n    return opt\n",
    "def my_linear_vjp(G, X, W):\n    W = torch.nn.Parameter(W)\n    return W\n",
    "def my_linear_vjp(G, X, W):\n    return W.data\n",
    "def my_linear_vjp(G, X, W):\n    (X @ W).backward(G)\n    return X\n",
    "def my_linear_vjp(G, X, W):\n    return torch.autograd.grad(X @ W, X, G)\n",
    "def my_linear_vjp(G, X, W):\n    return torch.func.vjp(lambda x: x @ W, X)\n",
    "import importlib\ndef my_linear_vjp(G, X, W):\n    return importlib\n",
    "def my_linear_vjp(G, X, W):\n    return getattr(X, 'back' + 'ward')(G)\n",
    "def my_linear_vjp(G, X, W):\n    return torch.ops.aten.convolution_backward\n",
    "class A:\n    pass\ndef my_linear_vjp(G, X, W):\n    return A\n",
    "def my_linear_vjp(G, X, W):\n    yield X\n",
    "def my_linear_vjp(G, X, W):\n    return torch.inference_mode(False)\n",
    "def my_linear_vjp(G, X, W):\n    return X.grad_fn\n",
    "def my_linear_vjp(G, X, W):\n    return X.requires_grad_()\n",
    "import torch.nn.grad as g\ndef my_linear_vjp(G, X, W):\n    return g\n",
    "from torch.distributions import Normal\ndef my_linear_vjp(G, X, W):\n    return Normal\n",
    "def my_linear_vjp(G, X, W):\n    return torch.overrides\n",
    "def my_linear_vjp(G, X, W):\n    return torch.utils.checkpoint\n",
]

HONEST = [
    LINEAR_OK,
    "import torch.nn.functional as F\nfrom typing import Tuple\n"
    "def my_linear_vjp(G, X, W) -> Tuple:\n    return G @ W.T, F.linear(X.T, G.T), G.sum(0)\n",
    "def _h(a):\n    return a\n".replace("_h", "helper") + "def my_linear_vjp(G, X, W):\n"
    "    return torch.einsum('nm,dm->nd', G, W), torch.einsum('nd,nm->dm', X, G), helper(G).sum(0)\n",
    "def my_linear_vjp(G, X, W):\n    print(G.shape)\n    dX = torch.matmul(G, W.transpose(0, 1))\n"
    "    return dX, X.mT @ G, G.sum(dim=0)\n",
]


def _vet(label, source):
    import helpers
    from booktools.vet import extract, vet
    from helpers.exercises import EXERCISES

    ex = EXERCISES[label]
    vet(extract(source, ex.func), func=ex.func, policy=ex.policy,
        reference_names=set(helpers.__all__), provided=set(ex.policy.modules))


def test_every_exercise_declares_an_allowlist():
    from helpers.exercises import EXERCISES

    missing = [label for label, ex in EXERCISES.items() if ex.policy.allow is None]
    assert not missing, f"exercises without an allowlist: {missing}"
    for label, ex in EXERCISES.items():
        assert not (ex.policy.allowed() & set(ex.policy.forbidden)), label
        if not ex.policy.autograd:
            assert not ex.policy.allowed() & {"autograd", "backward", "grad", "func"}, label


@pytest.mark.parametrize("i", range(len(CHEATS)))
def test_cheat_is_rejected(i):
    from booktools.vet import Rejected

    with pytest.raises(Rejected):
        _vet("ex-linear-vjp", CHEATS[i])


@pytest.mark.parametrize("i", range(len(HONEST)))
def test_honest_styles_accepted(i):
    _vet("ex-linear-vjp", HONEST[i])


def test_measured_rejections():
    """The figure for the report: how many cheats the static pass rejects."""
    from booktools.vet import Rejected

    rejected = 0
    for src in CHEATS:
        try:
            _vet("ex-linear-vjp", src)
        except Rejected:
            rejected += 1
    print(f"static pass: {rejected}/{len(CHEATS)} cheats rejected")
    assert rejected == len(CHEATS)


def test_diagnosis_names_it_and_what_is_allowed():
    from booktools.vet import Rejected

    with pytest.raises(Rejected, match=r"`\.entropy`.*allowlist.*allows tensor arithmetic"):
        _vet("ex-linear-vjp", "def my_linear_vjp(G, X, W):\n    return X.entropy()\n")
    with pytest.raises(Rejected, match=r"`match`"):
        _vet("ex-linear-vjp", CHEATS[0])


# ---------------------------------------------------------------- the runtime guard

def _hidden_backward(G, X, W):
    """A determined student: `backward` built from strings, past any static check."""
    name = "".join(["back", "ward"])
    X = X.clone().requires_grad_(True)
    Y = X @ W
    getattr(Y, name)(G)
    return X.grad


def _hidden_autograd_grad(G, X, W):
    mod = getattr(torch_mod(), "auto" + "grad")
    X = X.clone().requires_grad_(True)
    return getattr(mod, "gr" + "ad")(X @ W, X, G)


def torch_mod():
    import torch
    return torch


@pytest.mark.parametrize("fn", [_hidden_backward, _hidden_autograd_grad])
def test_runtime_guard_refuses_hidden_autograd(fn):
    import torch

    from booktools.guard import Guard, GuardViolation, guarded

    G, X, W = torch.ones(2, 4, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64), \
        torch.ones(3, 4, dtype=torch.float64)
    guard = Guard()
    with pytest.raises(GuardViolation, match="runtime guard refused"):
        with guarded(guard):
            fn(G, X, W)
    assert guard.record


def test_runtime_guard_keeps_the_record_when_the_student_catches():
    import torch

    from booktools.guard import Guard, guarded

    guard = Guard()
    X = torch.ones(2, 3, dtype=torch.float64)
    with guarded(guard):
        try:
            getattr(X, "requires_" + "grad_")(True)
        except Exception:  # noqa: BLE001 - what a student would write
            pass
    assert guard.record, "the refusal was not recorded"


def test_runtime_guard_lets_honest_code_run():
    import torch

    from booktools.guard import Guard, guarded

    G, X, W = torch.ones(2, 4, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64), \
        torch.ones(3, 4, dtype=torch.float64)
    guard = Guard()
    with guarded(guard):
        out = (G @ W.T, X.T @ G, G.sum(0), torch.einsum("nm,dm->nd", G, W))
    assert not guard.record and out[0].shape == (2, 3)


def test_every_book_solution_runs_clean_under_the_armed_guard():
    """The guard the grader arms (booktools/grade.py) refuses nothing an honest solution of
    the book does: each reference solution, called on its exercise's cases under
    ``guarded(Guard(autograd=..., forbidden=...))`` as the grader calls it, leaves an
    empty record and passes the verdict; and the guard is not idle: the same call with
    autograd forbidden refuses ``ex-jacobian-builder``'s solution, which uses autograd."""
    import math

    import nbformat
    import torch

    from booktools.guard import Guard, guarded
    from booktools.vet import extract, find_cell
    from helpers.exercises import EXERCISES, verdict
    from helpers.harness import run_case

    from .conftest import chapter_paths

    seen = set()
    for path in chapter_paths():
        nb = nbformat.read(str(path), as_version=4)
        for label, ex in EXERCISES.items():
            cells = [c for c in nb.cells if c.metadata.get("exercise") == label
                     and "solution" in c.metadata.get("tags", [])]
            if not cells:
                continue
            namespace = {"torch": torch, "math": math}
            exec(compile(extract(find_cell(cells, ex.func), ex.func), str(path), "exec"),
                 namespace)
            fn = namespace[ex.func]
            cases = ex.cases(12345)
            for autograd in {ex.policy.autograd, False}:
                guard = Guard(autograd=autograd, forbidden=ex.policy.forbidden,
                              op_budget=ex.policy.op_budget)
                records = []
                for case in cases:
                    with guarded(guard):
                        records.append(run_case(fn, case, ex.args))
                if autograd == ex.policy.autograd:
                    assert guard.record == [], (label, guard.record)
                    ok, text = verdict(label, cases, records)
                    assert ok is True, (label, text)
                else:  # autograd allowed by the policy, forbidden here: refused
                    assert guard.record, f"{label}: the guard refused nothing"
            seen.add(label)
    assert seen == set(EXERCISES)


def test_finite_differences_are_refused_where_the_policy_forbids_them():
    """ex-jacobian-builder asks for autograd VJPs: a builder that calls f at shifted points
    (central differences: its values are close to the Jacobian) is refused
    with a diagnosis naming the calls; the autograd builder passes; and chapter 1's
    Richardson exercise, whose policy allows finite differences, still passes."""
    import torch

    from helpers.exercises import EXERCISES, verdict
    from helpers.harness import run_case

    def fd_jacobian(f, x):
        cols = []
        for j in range(x.numel()):
            e = torch.zeros_like(x)
            e[j] = 1e-6
            cols.append((f(x + e) - f(x - e)) / 2e-6)
        return torch.stack(cols, dim=-1)

    def autograd_jacobian(f, x):
        x = x.detach().requires_grad_(True)
        y = f(x)
        rows = [torch.autograd.grad(y[i], x, retain_graph=True)[0] for i in range(y.numel())]
        return torch.stack(rows)

    ex = EXERCISES["ex-jacobian-builder"]
    cases = ex.cases(7)

    def judge(fn, label="ex-jacobian-builder", cs=cases):
        return verdict(label, cs, [run_case(fn, c, EXERCISES[label].args) for c in cs])

    ok, text = judge(autograd_jacobian)
    assert ok is True, text
    ok, text = judge(fd_jacobian)
    assert ok is False and "called f at a point other than the input x" in text, text
    assert re.search(r"finite differences, \d+ calls", text), text

    cd = EXERCISES["ex-scalar-richardson"]
    cd_cases = cd.cases(7)
    ok, text = judge(lambda f, x, h: (8 * (f(x + h) - f(x - h)) - (f(x + 2 * h) - f(x - 2 * h))) / (12 * h),
                     "ex-scalar-richardson", cd_cases)
    assert ok is True, text


def test_a_forged_calls_record_is_malformed():
    from helpers.exercises import EXERCISES, verdict

    ex = EXERCISES["ex-jacobian-builder"]
    cases = ex.cases(7)
    bad = [{"status": "ok", "value": {"t": "none"}, "calls": {"n": -1, "args": [1]}}] * len(cases)
    ok, text = verdict("ex-jacobian-builder", cases, bad)
    assert ok is False and "malformed outputs" in text, text


def test_the_guard_costs_no_dynamo_import():
    """The first op under the guard does not import torch._dynamo (it cost 5 s of a
    grading cell's 6 s limit in the tests, on a loaded machine)."""
    import subprocess
    import sys

    code = ("import sys, torch\nfrom booktools.guard import Guard, guarded\n"
            "with guarded(Guard()):\n    (torch.ones(3, dtype=torch.float64) * 2).sum()\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_student_text_in_a_diagnosis_is_a_short_printable_excerpt():
    """Issue 23 §3: an exception message is the one channel from the kernel into the
    diagnosis; it is cut to a short line of printable characters, and a forged type
    name is not echoed."""
    from helpers.exercises import EXERCISES, verdict

    ex = EXERCISES["ex-linear-vjp"]
    cases = ex.cases(0)
    secret = "A" * 5000 + "\x1b[31m\n" + "B" * 100
    record = {"status": "error", "type": "Evil\x1b]0;x", "message": secret,
              "where": " (in f, line 1: `" + "C" * 900 + "`)"}
    ok, text = verdict("ex-linear-vjp", cases, [record] * len(cases))
    assert ok is False
    assert "AAAA" in text and "A" * 301 not in text and "B" not in text, text[:400]
    assert "C" * 161 not in text and "\x1b" not in text and "Evil" not in text, text[:400]
    assert "raised an exception:" in text


FD_LINEAR = [  # difference quotients, exact for a linear map: each must get no credit
    # one entry of X and W at a time, step 1
    """def my_linear_vjp(G, X, W):
    L = lambda X_, W_: (G * (X_ @ W_)).sum()
    dX, dW = torch.zeros_like(X), torch.zeros_like(W)
    for i in range(X.numel()):
        E = torch.zeros(X.numel(), dtype=X.dtype)
        E[i] = 1
        dX.view(-1)[i] = L(X + E.view(X.shape), W) - L(X, W)
    for i in range(W.numel()):
        E = torch.zeros(W.numel(), dtype=W.dtype)
        E[i] = 1
        dW.view(-1)[i] = L(X, W + E.view(W.shape)) - L(X, W)
    return dX, dW, G.reshape(-1, G.shape[-1]).sum(0)
""",
    # central differences with a small step, by index
    """def my_linear_vjp(G, X, W):
    def L(X_, W_):
        return (G * torch.matmul(X_, W_)).sum()
    dX, dW = torch.zeros_like(X), torch.zeros_like(W)
    h = 1e-6
    for i in range(X.numel()):
        Xp, Xm = X.clone(), X.clone()
        Xp.view(-1)[i] += h
        Xm.view(-1)[i] -= h
        dX.view(-1)[i] = (L(Xp, W) - L(Xm, W)) / (2 * h)
    for i in range(W.numel()):
        Wp, Wm = W.clone(), W.clone()
        Wp.view(-1)[i] += h
        Wm.view(-1)[i] -= h
        dW.view(-1)[i] = (L(X, Wp) - L(X, Wm)) / (2 * h)
    return dX, dW, G.reshape(-1, G.shape[-1]).sum(0)
""",
]


@pytest.mark.filterwarnings("ignore:The use of `x.T`:UserWarning")  # HONEST's 3-D .T
def test_finite_differences_on_tensors_exceed_the_op_budget():
    """Issue 23 §2 on ex-linear-vjp, whose cases pass tensors only (no function whose calls
    could be traced): a difference quotient per entry is exact for a linear map and passes
    the verdict, so the guard's count of tensor operations per call refuses it; the
    honest styles of test_grade.py stay far under the budget."""
    import torch

    from booktools.guard import Guard, guarded
    from helpers.exercises import EXERCISES, verdict
    from helpers.harness import run_case

    ex = EXERCISES["ex-linear-vjp"]
    assert ex.policy.op_budget is not None
    cases = ex.cases(2024)

    def run(src, budget):
        namespace = {"torch": torch}
        exec(src, namespace)
        guard = Guard(forbidden=ex.policy.forbidden, op_budget=budget)
        records = []
        for case in cases:
            with guarded(guard):
                records.append(run_case(namespace["my_linear_vjp"], case, ex.args))
        return guard, verdict("ex-linear-vjp", cases, records)

    for src in FD_LINEAR:
        guard, (ok, _) = run(src, None)
        assert ok is True and guard.record == []  # without the budget: full marks
        guard, _ = run(src, ex.policy.op_budget)
        assert guard.record and "tensor operations in one call" in guard.record[0], guard.record
    guard, (ok, text) = run(LINEAR_OK, ex.policy.op_budget)
    assert guard.record == [] and ok is True, (guard.record, text)
    for src in HONEST:  # whatever their verdict, the budget refuses none of them
        guard, _ = run(src, ex.policy.op_budget)
        assert guard.record == [], guard.record
