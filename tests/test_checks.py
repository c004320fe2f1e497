"""The exercise checkers (helpers/exercises/): each right implementation passes, the
stub reports "not implemented yet", and a catalogue of wrong implementations gets the
diagnosis that names its mistake. For each requirement an exercise states (leading dims,
any rank, logits of +-1000, N = 1, M = 1), a solution violating only that requirement is
rejected with a diagnosis naming it. The judge (`verdict`) survives malformed records.
Also: the instructors' page lists every exercise."""

from __future__ import annotations

import math
import re

import pytest
import torch

import helpers
from helpers import exercises as checks
from helpers import more_layers
from helpers.exercises import EXERCISES

from .conftest import ROOT

# wrong solutions written for 2-D inputs call X.T on the 3-D cases
pytestmark = pytest.mark.filterwarnings("ignore:The use of `x.T`:UserWarning")


def stub(*args):
    raise NotImplementedError("ex-...: write your code here")


def flat(T):
    return T.reshape(-1, T.shape[-1])


def linear_right(G, X, W):
    return G @ W.T, flat(X).T @ flat(G), flat(G).sum(0)


def nn_right(G, X, w):
    return G @ w, flat(G).T @ flat(X), flat(G).sum(0)


def jac_rows(f, x, transpose=False, dtype=None):
    """A right Jacobian builder (one autograd VJP per output), optionally made wrong."""
    xr = x.detach().clone().requires_grad_(True)
    y = f(xr)
    rows = [torch.autograd.grad(y[k], xr, retain_graph=True)[0] for k in range(y.numel())]
    J = torch.stack(rows)
    if dtype is not None:
        J = J.to(dtype)
    return J.T if transpose else J


def jac_forward_diff(f, x, eps=1e-6):
    cols = []
    for j in range(x.numel()):
        e = torch.zeros_like(x)
        e[j] = eps
        cols.append((f(x + e) - f(x)) / eps)
    return torch.stack(cols, dim=1)


def jac_sum(f, x):
    xr = x.detach().clone().requires_grad_(True)
    return torch.autograd.grad(f(xr).sum(), xr)[0]


def gate_graph_autograd(x, y, g):
    """Right for ex-gradient-gate-graph by autograd (independent of the judge's hand formula)."""
    x, y = x.detach().clone().requires_grad_(True), y.detach().clone().requires_grad_(True)
    m = torch.maximum(x * y + x, y)
    return torch.autograd.grad((g * m).sum(), (x, y))


def gate_graph_parts(x, y, g, dx="both", dy="both", swap=True, route="larger"):
    """ex-gradient-gate-graph by hand, with one planted mistake chosen by the keywords."""
    c = x * y + x
    to_c = {"larger": (c > y).double(), "smaller": (c < y).double(),
            "none": torch.ones_like(c)}[route]
    to_y = {"larger": (y > c).double(), "smaller": (y < c).double(),
            "none": torch.ones_like(c)}[route]
    dc = g * to_c
    x_mul, y_mul = (dc * y, dc * x) if swap else (dc * x, dc * y)
    dx_val = {"both": x_mul + dc, "mul": x_mul, "add": dc}[dx]
    dy_val = {"both": y_mul + g * to_y, "mul": y_mul, "max": g * to_y}[dy]
    return dx_val, dy_val


# (checker, a right implementation, {mistake: (wrong implementation, regex of the diagnosis)})
CATALOGUE = {
    "ex-scalar-central-difference": (
        checks.check_central_difference,
        lambda f, x, eps: (f(x + eps) - f(x - eps)) / (2 * eps),
        {
            "forward": (lambda f, x, eps: (f(x + eps) - f(x)) / eps, "forward difference"),
            "backward": (lambda f, x, eps: (f(x) - f(x - eps)) / eps, "backward difference"),
            "missing 2": (lambda f, x, eps: (f(x + eps) - f(x - eps)) / eps, "2 \\* eps"),
            "sign": (lambda f, x, eps: (f(x - eps) - f(x + eps)) / (2 * eps), "sign is flipped"),
            "none": (lambda f, x, eps: None, "returned None"),
            "nan": (lambda f, x, eps: float("nan"), "returned nan"),
            "raises": (lambda f, x, eps: f(x, eps), "raised TypeError"),
            "not a number": (lambda f, x, eps: [f(x)], "return a number"),
        },
    ),
    "ex-gradient-gate-graph": (
        checks.check_gate_graph_backward,
        gate_graph_autograd,
        {
            "x: multiply path only": (lambda x, y, g: gate_graph_parts(x, y, g, dx="mul"),
                                      r"dx has wrong values: x fans out.*only the multiply's"),
            "x: add path only": (lambda x, y, g: gate_graph_parts(x, y, g, dx="add"),
                                 r"dx has wrong values: x fans out.*only the add's"),
            "y: multiply path only": (lambda x, y, g: gate_graph_parts(x, y, g, dy="mul"),
                                      r"dy has wrong values: y fans out.*only the multiply's"),
            "y: max path only": (lambda x, y, g: gate_graph_parts(x, y, g, dy="max"),
                                 r"dy has wrong values: y fans out.*only the max's"),
            "multiply not swapped": (lambda x, y, g: gate_graph_parts(x, y, g, swap=False),
                                     r"dx has wrong values: multiply swaps"),
            "max routed to the smaller": (lambda x, y, g: gate_graph_parts(x, y, g, route="smaller"),
                                          r"dx has wrong values: max routes.*smaller"),
            "max not routed": (lambda x, y, g: gate_graph_parts(x, y, g, route="none"),
                               r"dx has wrong values: max routes.*as an add would"),
            "order": (lambda x, y, g: gate_graph_parts(x, y, g)[::-1], r"wrong order.*\(dx, dy\)"),
            "one result": (lambda x, y, g: gate_graph_parts(x, y, g)[0], "got a single Tensor"),
            "float32": (lambda x, y, g: tuple(t.float() for t in gate_graph_parts(x, y, g)),
                        "dx has dtype torch.float32"),
            "none": (lambda x, y, g: None, "returned None"),
            "sign": (lambda x, y, g: tuple(-t for t in gate_graph_parts(x, y, g)),
                     "dx has wrong values: the sign is flipped"),
        },
    ),
    "ex-jacobian-builder": (
        checks.check_jacobian,
        jac_rows,
        {
            "transpose": (lambda f, x: jac_rows(f, x, transpose=True), "transpose"),
            "float32": (lambda f, x: jac_rows(f, x, dtype=torch.float32), "dtype torch.float32"),
            "forward differences": (jac_forward_diff, r"called f at a point other than the input x \(finite differences"),
            "gradient of the sum": (jac_sum, "gradient of f\\(x\\).sum\\(\\)"),
            "none": (lambda f, x: None, "is None"),
            "numpy": (lambda f, x: jac_rows(f, x).numpy(), "should be a torch.Tensor"),
        },
    ),
    "ex-generalized-contract": (
        checks.check_contract,
        lambda G, J: (G.reshape(-1) @ J.reshape(G.numel(), -1)).reshape(J.shape[G.ndim:]),
        {
            "input dims": (lambda G, J: (G[:, :, None, None] * J).sum((2, 3)),
                           "summed over the input dims"),
            "diagonal": (lambda G, J: torch.einsum("nm,nmnd->nd", G, J), "kept only the terms"),
            "flattened": (lambda G, J: J.reshape(G.numel(), -1).T @ G.reshape(-1),
                          "right numbers but the wrong shape"),
            "transpose": (lambda G, J: torch.einsum("nm,nmkd->dk", G, J), "transpose"),
            "no sum": (lambda G, J: G[:, :, None, None] * J, r"wrong shape: expected \(\d+, \d+\)"),
            "raises": (lambda G, J: G @ J, "raised RuntimeError"),
        },
    ),
    "ex-linear-vjp": (
        checks.check_linear_vjp,
        lambda G, X, W: linear_right(G, X, W),
        {
            "dW transposed": (lambda G, X, W: (G @ W.T, G.T @ X, G.sum(0)),
                              r"dW is the transpose.*expected shape \(3, 4\), got \(4, 3\)"),
            "dX transposed": (lambda G, X, W: (W @ G.T, X.T @ G, G.sum(0)), "dX is the transpose"),
            "db wrong axis": (lambda G, X, W: (G @ W.T, X.T @ G, G.sum(1)),
                              r"db has the wrong shape \(expected \(4,\), got \(2,\)\).*wrong axis"),
            "db over all": (lambda G, X, W: (G @ W.T, X.T @ G, G.sum()), "summed over every axis"),
            "db not summed": (lambda G, X, W: (G @ W.T, X.T @ G, G), "bias gradient is G itself"),
            "db keepdim": (lambda G, X, W: (G @ W.T, X.T @ G, G.sum(0, keepdim=True)),
                           r"right numbers but the wrong shape: expected \(4,\), got \(1, 4\)"),
            "db mean": (lambda G, X, W: (G @ W.T, X.T @ G, G.mean(0)), "extra 1/N"),
            "dW divided by N": (lambda G, X, W: (G @ W.T, X.T @ G / G.shape[0], G.sum(0)),
                                "dW has wrong values: an extra 1/N"),
            "sign": (lambda G, X, W: (-(G @ W.T), X.T @ G, G.sum(0)), "dX .*sign is flipped"),
            "missing transpose raises": (lambda G, X, W: (G @ W, X.T @ G, G.sum(0)),
                                         r"raised RuntimeError.*mat1 and mat2.*\(in <lambda>.*"
                                         r"G of shape \(2, 4\).*transpose"),
            "order": (lambda G, X, W: (X.T @ G, G @ W.T, G.sum(0)), "wrong order.*\\(dW, dX, db\\)"),
            "two results": (lambda G, X, W: (G @ W.T, X.T @ G), "tuple of 3 .* length 2"),
            "none": (lambda G, X, W: None, "returned None"),
            "single tensor": (lambda G, X, W: G @ W.T, "got a single Tensor"),
            "db none": (lambda G, X, W: (G @ W.T, X.T @ G, None), "db is None"),
            "nan": (lambda G, X, W: (G @ W.T * math.inf, X.T @ G, G.sum(0)), "NaN or inf"),
            "float32": (lambda G, X, W: (G @ W.T, (X.T @ G).float(), G.sum(0)),
                        "dW has dtype torch.float32"),
            "wrong values": (lambda G, X, W: (G @ W.T + 1, X.T @ G, G.sum(0)),
                             r"dX has wrong values \(max"),
        },
    ),
    "ex-linear-nn-vjp": (
        checks.check_nn_linear_vjp,
        lambda G, X, w: nn_right(G, X, w),
        {
            "book layout dweight": (lambda G, X, w: (G @ w, X.T @ G, G.sum(0)),
                                    "dweight is the transpose"),
            "dbias wrong axis": (lambda G, X, w: (G @ w, G.T @ X, G.sum(1)), "wrong axis"),
            "raises": (lambda G, X, w: (G @ w.T, G.T @ X, G.sum(0)), "raised RuntimeError"),
            "missing 1/N is not the issue, extra N": (
                lambda G, X, w: (G @ w, G.T @ X * G.shape[0], G.sum(0)), "missing 1/N"),
        },
    ),
}


from .catalogue_mlp import CATALOGUE_MLP, REQUIREMENTS_MLP  # noqa: E402 - chapter 7's exercise
from .catalogue_more import CATALOGUE_MORE, HELPERS_MORE, REQUIREMENTS_MORE  # noqa: E402 - chapter 8

CATALOGUE.update(CATALOGUE_MLP)
CATALOGUE.update(CATALOGUE_MORE)

def test_catalogue_covers_every_exercise():
    assert set(CATALOGUE) == set(EXERCISES)
    for label, (checker, _, _) in CATALOGUE.items():
        assert EXERCISES[label].checker is checker
        assert checker.__name__ == EXERCISES[label].checker_name


@pytest.mark.parametrize("label", sorted(CATALOGUE))
def test_right_implementation_passes(label, capsys):
    checker, right, _ = CATALOGUE[label]
    assert checker(right) is True
    out = capsys.readouterr().out
    assert out.startswith(f"{label}: correct on ") and out.count("\n") == 1


@pytest.mark.parametrize("label", sorted(CATALOGUE))
def test_helper_itself_passes(label):
    """The helper the exercise re-implements passes its own checker (sanity)."""
    helper = {"ex-scalar-central-difference": None,
              "ex-gradient-gate-graph": None,
              "ex-jacobian-builder": helpers.jacobian,
              "ex-generalized-contract": helpers.contract,
              "ex-linear-vjp": helpers.linear_vjp,
              "ex-linear-nn-vjp": helpers.nn_linear_vjp,
              "ex-mlp-residual": helpers.residual_mlp_backward,
              **HELPERS_MORE}[label]
    if helper is not None:
        assert CATALOGUE[label][0](helper) is True


@pytest.mark.parametrize("label", sorted(CATALOGUE))
def test_stub_reports_not_implemented(label, capsys):
    checker = CATALOGUE[label][0]
    assert checker(stub) is False
    assert "not implemented yet" in capsys.readouterr().out


CASES = [(label, mistake) for label, (_, _, wrong) in sorted(CATALOGUE.items())
         for mistake in wrong]


@pytest.mark.parametrize("label,mistake", CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_wrong_implementation_is_diagnosed(label, mistake):
    checker, _, wrong = CATALOGUE[label]
    fn, pattern = wrong[mistake]
    with pytest.raises(AssertionError) as info:
        checker(fn)
    message = str(info.value)
    assert message.startswith(f"{label}: ")
    assert re.search(pattern, message), f"diagnosis {message!r} does not match {pattern!r}"
    # the exception is raised from None: no chained traceback from inside the helpers
    exc = info.value
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def test_checker_is_deterministic_and_does_not_touch_the_global_seed(capsys):
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    checks.check_linear_vjp(linear_right)
    assert torch.equal(torch.rand(3), before)
    msgs = []
    for _ in range(2):
        with pytest.raises(AssertionError) as info:
            checks.check_linear_vjp(lambda G, X, W: (G @ W.T + 1e-3, X.T @ G, G.sum(0)))
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]


def test_student_cannot_corrupt_the_reference_inputs():
    """A student's function that modifies its arguments in place sees copies."""
    def in_place(G, X, W):
        dX, dW, db = linear_right(G, X, W)
        G.zero_(), X.zero_(), W.zero_()
        return dX, dW, db
    assert checks.check_linear_vjp(in_place) is True


def test_shapes_are_non_square():
    for N, D, M in checks.core.SHAPES:
        assert len({N, D, M} - {1}) == len([s for s in (N, D, M) if s != 1]), (N, D, M)
        assert D != M


def test_instructors_page_lists_every_exercise():
    page = (ROOT / "reference" / "instructors.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("|")]
    for label, ex in EXERCISES.items():
        row = [r for r in rows if f"`{label}`" in r]
        assert row, f"reference/instructors.md: no table row for {label}"
        assert f"`{ex.func}`" in row[0] and ex.checker_name in row[0] and ex.chapter[:2] in row[0], row[0]


# ------------------------------------------- each stated requirement, violated alone

def contract_rank2(G, J):
    """Right for a 2-D G only: the reshape of the result hard-codes G.ndim == 2."""
    return (G.reshape(-1) @ J.reshape(G.numel(), -1)).reshape(J.shape[2:])


REQUIREMENTS = {  # name: (checker, wrong solution violating only it, regex of the diagnosis)
    "linear: leading dims (X.T @ G)": (
        checks.check_linear_vjp, lambda G, X, W: (G @ W.T, X.T @ G, G.sum(0)),
        r"leading dimensions \(leading dims \(2, 3\)\)"),
    "linear: no leading dim, X of shape (D,)": (
        checks.check_linear_vjp,
        lambda G, X, W: (G @ W.T, X.reshape(-1, X.shape[-1]).T @ G.reshape(-1, G.shape[-1]),
                         G.reshape(-1, G.shape[-1]).sum(0)) if X.ndim > 1 else (G, W, W),
        r"leading dimensions \(no leading dim, X of shape \(D,\)\)"),
    "linear: N = 1": (
        checks.check_linear_vjp,
        lambda G, X, W: ((G @ W.T).squeeze(0),) + linear_right(G, X, W)[1:], r"N = 1"),
    "linear: M = 1": (
        checks.check_linear_vjp,
        lambda G, X, W: linear_right(G, X, W)[:2] + (flat(G).sum(0).squeeze(),), r"M = 1"),
    "nn linear: leading dims (G.T @ X)": (
        checks.check_nn_linear_vjp, lambda G, X, w: (G @ w, G.T @ X, G.sum(0)),
        r"leading dimensions"),
    "nn linear: N = 1": (
        checks.check_nn_linear_vjp,
        lambda G, X, w: ((G @ w).squeeze(0),) + nn_right(G, X, w)[1:], r"N = 1"),
    "nn linear: M = 1": (
        checks.check_nn_linear_vjp,
        lambda G, X, w: nn_right(G, X, w)[:2] + (flat(G).sum(0).squeeze(),), r"M = 1"),
    "contract: any rank": (checks.check_contract, contract_rank2, r"G of rank 0.*any rank"),
    "jacobian: M = 1": (checks.check_jacobian, lambda f, x: jac_rows(f, x).squeeze(0),
                        r"M = 1"),
    "jacobian: D = 1": (checks.check_jacobian, lambda f, x: jac_rows(f, x).squeeze(1),
                        r"a single input"),
}
REQUIREMENTS.update(REQUIREMENTS_MLP)


REQUIREMENTS.update(REQUIREMENTS_MORE)


def test_the_requirement_solutions_are_right_elsewhere():
    """The right solutions these are derived from pass (so each wrong one is wrong only there)."""
    assert checks.check_contract(CATALOGUE["ex-generalized-contract"][1]) is True
    assert checks.check_nn_linear_vjp(nn_right) is True


@pytest.mark.parametrize("name", sorted(REQUIREMENTS))
def test_each_stated_requirement_is_checked(name):
    checker, wrong, pattern = REQUIREMENTS[name]
    with pytest.raises(AssertionError) as info:
        checker(wrong)
    message = str(info.value)
    assert re.search(pattern, message), f"diagnosis {message!r} does not match {pattern!r}"
    assert "[this case tests" in message


def test_requirement_cases_exist_for_the_graders_seeds_too():
    """The grader draws cases from a secret seed: the requirement cases are always there."""
    for seed in (0, 12345, 2 ** 40 + 7):
        lin = EXERCISES["ex-linear-vjp"].cases(seed)
        assert any(c["inputs"]["X"].ndim == 3 for c in lin) and \
            any(c["inputs"]["X"].ndim == 1 for c in lin)
        con = EXERCISES["ex-generalized-contract"].cases(seed)
        assert {c["inputs"]["G"].ndim for c in con} == {0, 1, 2, 3}
        gg = EXERCISES["ex-gradient-gate-graph"].cases(seed)
        for c in gg:  # no tie near the max's kink, and both branches where there are 2 entries
            x, y = c["inputs"]["x"], c["inputs"]["y"]
            gap = (x * y + x - y)
            assert float(gap.abs().min()) >= checks.ch02.GAP
            assert x.numel() < 2 or (bool((gap > 0).any()) and bool((gap < 0).any()))


# --------------------------------------------------------- the judge on hostile records

def _records(label, fn, seed=99):
    from helpers.harness import run_case
    ex = EXERCISES[label]
    cases = ex.cases(seed)
    return cases, [run_case(fn, c, ex.args) for c in cases]


def test_verdict_of_right_records_from_another_seed():
    cases, records = _records("ex-linear-vjp", linear_right)
    assert checks.verdict("ex-linear-vjp", cases, records) == (True, EXERCISES["ex-linear-vjp"].done)


class Liar(torch.Tensor):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("mutate,pattern", [
    (lambda r: r[:-1], r"hold 7 results for 8 cases"),
    (lambda r: "pass", r"hold str results"),
    (lambda r: [None] * len(r), r"malformed outputs: a record is a NoneType"),
    (lambda r: [{"status": "ok", "value": {"t": "tensor", "v": [1.0]}}] * len(r),
     r"malformed outputs: a tensor entry holds a list"),
    (lambda r: [{"status": "ok", "value": {"t": "tensor", "v": torch.zeros(2000, 1000)}}] * len(r),
     r"malformed outputs: a tensor has 2000000 entries"),
    (lambda r: [{"status": "ok", "value": {"t": "tensor",
                                           "v": torch.zeros(2, 3).as_subclass(Liar)}}] * len(r),
     r"malformed outputs: a tensor entry holds a Liar"),
    (lambda r: [{"status": "error", "type": 1, "message": "", "where": ""}] * len(r),
     r"malformed outputs: the error's type is a int"),
    (lambda r: [{"status": "ok", "value": {"t": "seq", "type": "tuple", "len": 3,
                                           "v": [{"t": "num", "v": "1"}] * 3}}] * len(r),
     r"malformed outputs: a number entry holds a str"),
    (lambda r: [{"status": "ok", "value": {"t": "tensor",
                                           "v": torch.full((2, 3), float("nan"))}}] * len(r),
     r"return a tuple \(dX, dW, db\), got a single Tensor"),
])
def test_verdict_diagnoses_malformed_records(mutate, pattern):
    cases, records = _records("ex-linear-vjp", linear_right)
    ok, text = checks.verdict("ex-linear-vjp", cases, mutate(records))
    assert ok is False and re.search(pattern, text), text


def test_verdict_names_memory_errors():
    def bomb(*args):
        raise MemoryError()
    cases, records = _records("ex-mlp-residual", bomb)
    ok, text = checks.verdict("ex-mlp-residual", cases, records)
    assert ok is False and "raised MemoryError" in text and "out of memory" in text


def test_verdict_of_a_tensor_subclass_and_nan():
    from .catalogue_mlp import residual
    cases, records = _records("ex-mlp-residual",
                              lambda *a: tuple(t.as_subclass(Liar) for t in residual(*a)))
    ok, text = checks.verdict("ex-mlp-residual", cases, records)
    assert ok is False and "torch.Tensor subclass (Liar)" in text, text
    cases, records = _records("ex-mlp-residual",
                              lambda *a: tuple(t * float("nan") for t in residual(*a)))
    ok, text = checks.verdict("ex-mlp-residual", cases, records)
    assert ok is False and "NaN or inf" in text


def test_gate_graph_judge_agrees_with_central_differences():
    """The judge of ex-gradient-gate-graph is a hand formula: referee it by central
    differences of L = g . m on the cases of two seeds."""
    from helpers import numerical_jacobian
    from helpers.exercises.ch02 import _judge_gate_graph, gate_graph_forward
    for seed in (2, 12345):
        for c in EXERCISES["ex-gradient-gate-graph"].cases(seed):
            x, y, g = (c["inputs"][k] for k in ("x", "y", "g"))
            fd_x = numerical_jacobian(lambda v: (g * gate_graph_forward(v, y)["m"]).sum(), x)
            fd_y = numerical_jacobian(lambda v: (g * gate_graph_forward(x, v)["m"]).sum(), y)
            _judge_gate_graph(c, (fd_x, fd_y))  # raises unless the hand formula agrees
