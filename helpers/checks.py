"""Self-checks for the code exercises, and the judge the grader uses (one body for both).

A code exercise asks the student to re-implement a helper with the same signature.
``check_<helper>(fn)`` runs ``fn`` on several random, non-square cases in float64 and
judges each result against the helper. It prints a one-line confirmation and returns
True when right, prints "not implemented yet" and returns False when ``fn`` raises
``NotImplementedError``, and raises ``AssertionError`` with a diagnosis otherwise.

The diagnosis names the classic mistake when the wrong answer matches a known wrong
variant (a missing or extra transpose, a sum over the wrong axis, a missing or extra
1/N, a flipped sign, a wrong shape, ``None``, a tuple of the wrong length or order,
NaN/inf, float32, an exception with the student's line) and, when a case tests a
requirement the exercise states (leading dims ``(*, D)``, any rank, logits of +-1000,
N = 1, M = 1), says which.

Each exercise is declared ONCE, as an :class:`Exercise` in :data:`EXERCISES`:

- ``cases(seed)`` -> list of *cases*, pure data: ``{"inputs": {arg: tensor | number |
  function spec}, "desc": str, "note": str}``; a function is a spec such as
  ``{"fn": "tanh_matvec", "A": A}`` rebuilt by :func:`helpers.harness.build`;
- ``args``: the argument names in call order (the call adapter is
  :func:`helpers.harness.run_case`, which returns a *record*, pure data);
- ``judge(case, value)``: computes the expected value from the case with the reference
  helper and raises ``AssertionError`` naming the mistake; :func:`verdict` wraps it.

The self-check runs ``run_case`` in-process and then :func:`verdict`; the grader
(``booktools.grade``) runs ``run_case`` in a sandboxed kernel on cases from a secret
seed, loads the records as data and calls the same :func:`verdict`.

How to add an exercise (e.g. for a new chapter):

1. write ``_cases_x(seed)`` returning a list of ``_case(inputs, desc, note)``; use
   ``_gen(seed)``/``_rand`` and non-square sizes; give ``note`` to cases that test a
   stated requirement (its text must name the requirement);
2. if an input is a function, add its spec to :func:`helpers.harness.build`;
3. write ``_judge_x(case, value)``: expected = the helper on ``case["inputs"]``, then
   ``_close(label, what, value, expected, variants=[(message, wrong value), ...])``
   (``_unpack`` first for a tuple);
4. register ``Exercise(label, func, chapter, "check_x", args, _cases_x, _judge_x,
   done, seed, policy)``, define ``check_x = _checker("ex-...")`` and add it to ``__all__``;
5. add a row to reference/instructors.md and wrong solutions to tests/test_checks.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from .harness import build, run_case
from .jacobians import contract, jacobian
from .layers import linear_vjp, nn_linear_vjp, relu_vjp, softmax_cross_entropy_vjp
from .shapes import fmt_shape

__all__ = [
    "EXERCISES",
    "Exercise",
    "Policy",
    "check_attention_scores_vjp",
    "check_central_difference",
    "check_conv1d_vjp",
    "check_contract",
    "check_jacobian",
    "check_layer_norm_vjp",
    "check_linear_vjp",
    "check_nn_linear_vjp",
    "check_relu_vjp",
    "check_softmax_cross_entropy_vjp",
    "validate_record",
    "verdict",
]

F64 = torch.float64
RTOL, ATOL = 1e-6, 1e-8

#: non-square (N, D, M), no two sizes equal within a case (except a size of 1), so
#: that a missing transpose or a sum over the wrong axis cannot pass by accident
SHAPES = [(2, 3, 4), (5, 2, 3), (4, 3, 2), (3, 5, 1)]


@dataclass(frozen=True)
class Policy:
    """What the student's function may use (the grader enforces it on the source).

    ``modules``: the modules the exercise's cell may import (``torch``'s submodules
    ``autograd``/``func`` are governed by ``autograd``); ``autograd``: whether
    ``torch.autograd.grad``/``.backward`` are allowed; ``forbidden``: further names
    or attributes the exercise's text rules out (``"einsum"``).
    """

    modules: tuple[str, ...] = ("torch", "math")
    autograd: bool = False
    forbidden: tuple[str, ...] = ()
    text: str = ("your function may not call the book's helpers, nor use torch.autograd, "
                 "torch.func or .backward()")


@dataclass(frozen=True)
class Exercise:
    """One code exercise, declared once (see the module docstring)."""

    label: str
    func: str                       #: the name of the student's function
    chapter: str                    #: the notebook stem of the chapter
    checker_name: str               #: ``check_...``, the self-check's name
    args: tuple[str, ...]           #: the argument names, in call order
    cases: Callable[[int], list]    #: seed -> list of cases (pure data)
    judge: Callable[[dict, object], None]  #: (case, decoded value) -> raises AssertionError
    done: str                       #: what "correct on ..." says
    seed: int                       #: the seed of the self-check's cases
    policy: Policy = field(default_factory=Policy)
    reference: str = ""             #: the helper the exercise re-implements

    @property
    def checker(self) -> Callable:
        return globals()[self.checker_name]


class _NotYet(Exception):
    """The student's function raised NotImplementedError (the stub is still there)."""


# --------------------------------------------------------------------- records, as data

_SHAPE_ERRORS = ("cannot be multiplied", "size of tensor", "must match the size",
                 "shape mismatch", "inconsistent", "dimension", "not broadcastable",
                 "shapes cannot", "mat1 and mat2", "expected size", "shape '[",
                 "invalid for input of size")
#: the largest tensor a record may hold (entries); the cases' results are far smaller
MAX_NUMEL = 1_000_000
_DTYPES = {torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64,
           torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool,
           torch.complex64, torch.complex128}


class BadRecord(ValueError):
    """A record that is not what :func:`helpers.harness.run_case` produces."""


def _str(x, what: str) -> str:
    if not isinstance(x, str):
        raise BadRecord(f"{what} is a {type(x).__name__}, not a string")
    return x[:500]


def _value(v, depth: int = 0):
    """Decode an encoded value (see :func:`helpers.harness.encode`), validating it."""
    if not isinstance(v, dict) or not isinstance(v.get("t"), str):
        raise BadRecord(f"a value is a {type(v).__name__}, not an encoded value")
    t = v["t"]
    if t == "none":
        return None
    if t == "tensor":
        x = v.get("v")
        if type(x) is not torch.Tensor:
            raise BadRecord(f"a tensor entry holds a {type(x).__name__}")
        if x.layout != torch.strided or x.device.type != "cpu" or x.dtype not in _DTYPES:
            raise BadRecord(f"a tensor is {x.layout}/{x.device}/{x.dtype}")
        if x.numel() > MAX_NUMEL:
            raise BadRecord(f"a tensor has {x.numel()} entries (at most {MAX_NUMEL})")
        return x.detach()
    if t == "num":
        x = v.get("v")
        if type(x) is not float:
            raise BadRecord(f"a number entry holds a {type(x).__name__}")
        return x
    if t == "seq" and depth == 0:
        items = v.get("v")
        if not isinstance(items, list) or len(items) > 16:
            raise BadRecord("a sequence entry is not a short list")
        n = v.get("len")
        if type(n) is not int or n < len(items):
            raise BadRecord("a sequence entry has no valid length")
        out = [_value(i, depth + 1) for i in items]
        out += [_Opaque("an element not recorded")] * (min(n, 10 ** 6) - len(out))
        return tuple(out) if v.get("type") == "tuple" else out
    if t == "other":
        return _Opaque(_str(v.get("type"), "a type name"))
    raise BadRecord(f"unknown value kind {t!r}")


class _Opaque:
    """What the student returned when it cannot be recorded as data (its type name)."""

    def __init__(self, type_name: str):
        self.type_name = type_name


def _tname(x) -> str:
    return x.type_name if isinstance(x, _Opaque) else type(x).__name__


def validate_record(record) -> dict:
    """``record`` if it has the shape :func:`helpers.harness.run_case` gives; else BadRecord."""
    if not isinstance(record, dict) or record.get("status") not in ("ok", "notyet", "error"):
        raise BadRecord(f"a record is a {type(record).__name__} without a valid status")
    if record["status"] == "error":
        for key in ("type", "message", "where"):
            _str(record.get(key), f"the error's {key}")
    if record["status"] == "ok":
        _value(record.get("value"))
    return record


def verdict(label: str, cases: Sequence[dict], records: Sequence) -> tuple[bool | None, str]:
    """Judge the records of one exercise: ``(True, done)``, ``(None, "")`` for the stub,
    ``(False, diagnosis)``. Pure: never runs the student's code; any record is safe."""
    ex = EXERCISES[label]
    if not isinstance(records, (list, tuple)) or len(records) != len(cases):
        n = len(records) if isinstance(records, (list, tuple)) else type(records).__name__
        return False, (f"{label}: the outputs hold {n} results for {len(cases)} cases "
                       f"(forged or truncated outputs?)")
    for case, record in zip(cases, records):
        try:
            validate_record(record)
        except BadRecord as exc:
            return False, f"{label}: malformed outputs: {exc}"
        if record["status"] == "notyet":
            return None, ""
        try:
            if record["status"] == "error":
                msg = record["message"]
                hint = ""
                if record["type"] == "MemoryError" or "allocate memory" in msg:
                    hint = (" -- out of memory: your function allocated more than the memory "
                            "limit (the cases are small: a result needs no large tensor)")
                elif any(s in msg for s in _SHAPE_ERRORS):
                    hint = (" -- a shape mismatch inside your code: write down the shape of "
                            "every factor and check which one needs a transpose")
                raise AssertionError(
                    f"{label}: your function raised {record['type']}: {msg}{record['where']} "
                    f"when called with {case['desc']}{hint}")
            ex.judge(case, _value(record["value"]))
        except AssertionError as exc:
            text = str(exc)
            if case.get("note"):
                text += f" [this case tests {case['note']}]"
            return False, text
    return True, ex.done


def _self_check(label: str, fn: Callable) -> tuple[bool, str | None]:
    ex = EXERCISES[label]
    cases = ex.cases(ex.seed)
    records = []
    for case in cases:
        records.append(run_case(fn, case, ex.args))
        if records[-1]["status"] != "ok":
            break  # judged in order: the first failure is the diagnosis
    records += [{"status": "ok", "value": {"t": "none"}}] * (len(cases) - len(records))
    ok, text = verdict(label, cases, records)
    if ok is None:
        print(f"{label}: not implemented yet (replace the NotImplementedError with your code)")
        return False, None
    if ok:
        print(f"{label}: correct on {text}")
        return True, None
    return False, text


def _checker(label: str, doc: str) -> Callable:
    def check(fn: Callable) -> bool:
        __tracebackhide__ = True  # IPython and pytest hide this frame
        ok, diagnosis = _self_check(label, fn)
        if diagnosis:
            raise AssertionError(diagnosis)
        return ok
    check.__doc__ = doc
    return check


# ------------------------------------------------------------------------- diagnosing

def _isclose(a: torch.Tensor, b: torch.Tensor) -> bool:
    if tuple(a.shape) != tuple(b.shape):
        return False
    if a.is_complex() or b.is_complex():
        return False
    return bool(torch.allclose(a.to(F64), b.to(F64), rtol=RTOL, atol=ATOL))


def _scale(got: torch.Tensor, expected: torch.Tensor) -> float | None:
    """``c`` if ``got`` is ``c * expected`` for a scalar ``c`` (not 1), else None."""
    e, g = expected.to(F64).reshape(-1), got.to(F64).reshape(-1)
    ee = float(e @ e)
    if ee == 0.0:
        return None
    c = float(g @ e) / ee
    if not math.isfinite(c) or abs(c - 1.0) < 1e-9 or c == 0.0:
        return None
    return c if _isclose(g, c * e) else None


Variant = tuple[str, torch.Tensor]
"""A known wrong answer: (what the mistake is, the value the mistake produces)."""


def _close(label: str, what: str, got, expected: torch.Tensor, *,
           variants: Sequence[Variant] = (), n: int | None = None) -> None:
    """Raise ``AssertionError`` with a diagnosis unless ``got`` equals ``expected``.

    ``variants`` are known wrong answers (message, value); ``n`` the number of examples
    N, to recognise a missing or extra 1/N.
    """
    pre = f"{label}: {what}"
    if got is None:
        raise AssertionError(f"{pre} is None: did you forget to `return` it?")
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{pre} should be a torch.Tensor, got {_tname(got)}")
    E, Gs = fmt_shape(expected.shape), fmt_shape(got.shape)
    if tuple(got.shape) != tuple(expected.shape):
        if (got.ndim == 2 and expected.ndim == 2 and tuple(got.shape) == tuple(expected.shape)[::-1]
                and _isclose(got.T, expected)):
            raise AssertionError(
                f"{pre} is the transpose of the right answer (expected shape {E}, got {Gs}): "
                f"a missing or extra transpose; check the order of the factors")
        for message, value in variants:
            if _isclose(got, value):
                raise AssertionError(f"{pre} has the wrong shape (expected {E}, got {Gs}): {message}")
        if got.numel() == expected.numel() and _isclose(got.reshape(expected.shape), expected):
            raise AssertionError(
                f"{pre} has the right numbers but the wrong shape: expected {E}, got {Gs}; "
                f"reshape it (every gradient has the shape of its variable)")
        raise AssertionError(f"{pre} has the wrong shape: expected {E}, got {Gs}")
    if got.dtype != expected.dtype:
        raise AssertionError(
            f"{pre} has dtype {got.dtype}, expected {expected.dtype}: create new tensors with "
            f"dtype=torch.float64 (or torch.zeros_like) so no precision is lost")
    if not torch.isfinite(got).all():
        raise AssertionError(f"{pre} contains NaN or inf (expected finite values)")
    if _isclose(got, expected):
        return
    for message, value in variants:
        if _isclose(got, value):
            raise AssertionError(f"{pre} has wrong values: {message}")
    c = _scale(got, expected)
    if c is not None:
        if n and n > 1 and math.isclose(c, n, rel_tol=1e-6):
            why = f"a missing 1/N: it is N = {n} times the right answer"
        elif n and n > 1 and math.isclose(c, 1 / n, rel_tol=1e-6):
            why = f"an extra 1/N: it is 1/N = 1/{n} times the right answer (a mean instead of a sum?)"
        elif math.isclose(c, -1.0, rel_tol=1e-6):
            why = "the sign is flipped"
        else:
            why = f"it is {c:.4g} times the right answer (a wrong constant factor)"
        raise AssertionError(f"{pre} has wrong values: {why}")
    diff = float((got.to(F64) - expected.to(F64)).abs().max())
    size = float(expected.to(F64).abs().max()) or 1.0
    if diff < 1e-3 * size:
        raise AssertionError(
            f"{pre} is close but not exact (max |difference| {diff:.3g}): an approximation, "
            f"such as finite differences, instead of the exact formula?")
    raise AssertionError(f"{pre} has wrong values (max |difference| {diff:.3g})")


def _unpack(label: str, got, names: Sequence[str], expected: Sequence[torch.Tensor]):
    """Check that ``got`` is a tuple (or list) like ``expected``; diagnose order swaps."""
    want = "(" + ", ".join(names) + ")"
    if got is None:
        raise AssertionError(f"{label}: your function returned None: did you forget to "
                             f"`return {', '.join(names)}`?")
    if not isinstance(got, (tuple, list)):
        raise AssertionError(f"{label}: return a tuple {want}, got a single {_tname(got)}")
    if len(got) != len(names):
        raise AssertionError(f"{label}: return a tuple of {len(names)} {want}, "
                             f"got a tuple of length {len(got)}")
    found = []
    for g in got:
        match = [j for j, e in enumerate(expected)
                 if isinstance(g, torch.Tensor) and _isclose(g, e)]
        found.append(match[0] if match else None)
    if None not in found and found != list(range(len(names))):
        order = "(" + ", ".join(names[j] for j in found) + ")"
        raise AssertionError(f"{label}: the results are in the wrong order: return {want}; "
                             f"yours look like {order}")
    return got


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rand(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(tuple(shape), dtype=F64, generator=gen)


def _shapes(**tensors: torch.Tensor) -> str:
    return ", ".join(f"{k} of shape {fmt_shape(v.shape)}" for k, v in tensors.items())


def _case(inputs: dict, desc: str, note: str = "") -> dict:
    return {"inputs": inputs, "desc": desc, "note": note}


N1 = "N = 1 (a single example)"
M1 = "M = 1 (a single output feature)"


# ------------------------------------------------------------ ch01: central difference

CD_EPS = 1e-5
CD_POINTS = (0.3, -1.2, 2.0)
_CD_DERIVATIVES = {"sin": math.cos, "exp": math.exp, "cube": lambda t: 3 * t ** 2}


def _cases_central_difference(seed: int) -> list:
    """Three functions (named, rebuilt by the harness) at three points each.

    The points are fixed for the self-check (seed 1) and moved by a random offset in
    [-0.25, 0.25] for any other seed (the grader's).
    """
    shift = 0.0 if seed == 1 else float(torch.rand(1, generator=_gen(seed), dtype=F64)) / 2 - 0.25
    return [_case({"f": {"fn": name}, "x": x + shift, "eps": CD_EPS},
                  f"f = {name}, x = {x + shift:.6g}, eps = {CD_EPS}")
            for name in ("sin", "exp", "cube") for x in CD_POINTS]


def _judge_central_difference(case: dict, got) -> None:
    label = "ex-scalar-central-difference"
    f, x, eps = build(case["inputs"]["f"]), case["inputs"]["x"], case["inputs"]["eps"]
    if got is None:
        raise AssertionError(f"{label}: your function returned None: did you forget to "
                             f"`return` the derivative?")
    if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_complex():
        got = float(got)
    if not isinstance(got, float):
        raise AssertionError(f"{label}: return a number, got {_tname(got)}")
    exact = _CD_DERIVATIVES[case["inputs"]["f"]["fn"]](x)
    if not math.isfinite(got):
        raise AssertionError(f"{label}: at x = {x:.6g} you returned {got}")
    if abs(got - exact) <= 1e-8 * max(1.0, abs(exact)):
        return
    wrong = {
        "a forward difference (f(x + eps) - f(x)) / eps; the central difference "
        "uses f(x + eps) and f(x - eps)": (f(x + eps) - f(x)) / eps,
        "a backward difference (f(x) - f(x - eps)) / eps; the central difference "
        "uses f(x + eps) and f(x - eps)": (f(x) - f(x - eps)) / eps,
        "twice the derivative: divide by 2 * eps, the distance between "
        "x - eps and x + eps": (f(x + eps) - f(x - eps)) / eps,
        "half the derivative: divide by 2 * eps, not 4 * eps":
            (f(x + eps) - f(x - eps)) / (4 * eps),
        "the sign is flipped: f(x + eps) comes first":
            (f(x - eps) - f(x + eps)) / (2 * eps),
    }
    for why, value in wrong.items():
        if abs(got - value) <= 1e-9 * max(1.0, abs(value)):
            raise AssertionError(f"{label}: at x = {x:.6g} you returned {got:.10g}, "
                                 f"expected {exact:.10g}: {why}")
    raise AssertionError(f"{label}: at x = {x:.6g} you returned {got:.10g}, "
                         f"expected {exact:.10g}")


# ------------------------------------------------------------------ ch02: softmax CE

OVERFLOW = ("logits of +-1000: subtract each row's maximum before exponentiating "
            "(max subtraction), or exp overflows to inf")


def _cases_softmax(seed: int) -> list:
    gen = _gen(seed)
    out = []
    for N, C in [(2, 3), (5, 4), (4, 2), (3, 5), (1, 4)]:
        logits = 3 * _rand(gen, N, C)
        labels = torch.randint(0, C, (N,), generator=gen)
        out.append(_case({"logits": logits, "labels": labels},
                         _shapes(logits=logits, labels=labels), N1 if N == 1 else ""))
    N, C = 4, 3
    r = _rand(gen, N, C)
    logits = 1000 * torch.sign(r) + r  # entries near +1000 and -1000
    labels = torch.randint(0, C, (N,), generator=gen)
    out.append(_case({"logits": logits, "labels": labels},
                     _shapes(logits=logits, labels=labels) + " (entries near +-1000)", OVERFLOW))
    return out


def _judge_softmax(case: dict, got) -> None:
    logits, labels = case["inputs"]["logits"], case["inputs"]["labels"]
    N = logits.shape[0]
    expected = softmax_cross_entropy_vjp(logits, labels)
    p = torch.softmax(logits, dim=1)
    y = torch.zeros_like(p)
    y[torch.arange(N), labels] = 1.0
    variants = [
        ("the sign is flipped and 1/N is missing: the gradient is (p - y) / N, "
         "softmax minus one-hot, divided by N because the loss is a mean", y - p),
        ("the sign is flipped: the gradient is softmax minus one-hot, p - y, "
         "not y - p", (y - p) / N),
        ("softmax taken over the wrong axis: normalise each row (dim=1, the classes)",
         (torch.softmax(logits, dim=0) - y) / N),
        ("softmax taken over the wrong axis and 1/N is missing",
         torch.softmax(logits, dim=0) - y),
        ("you forgot to subtract the one-hot labels y: the gradient is (p - y) / N", p / N),
        ("you forgot to subtract the one-hot labels y: the gradient is (p - y) / N", p),
    ]
    _close("ex-gradient-softmax-ce", "dL/dlogits", got, expected, variants=variants, n=N)


# -------------------------------------------------------------------- ch03: Jacobian

def _cases_jacobian(seed: int) -> list:
    gen = _gen(seed)
    out = []
    for D, M, note in [(3, 4, ""), (2, 3, ""), (3, 2, ""), (5, 1, "M = 1 (a single output)"),
                       (1, 3, "a single input (x of length 1)")]:
        A, x = _rand(gen, M, D), _rand(gen, D)
        out.append(_case({"f": {"fn": "tanh_matvec", "A": A}, "x": x},
                         f"f(x) = tanh(A @ x): ({D},) -> ({M},) and x of shape ({D},)", note))
    return out


def _judge_jacobian(case: dict, got) -> None:
    f, x = build(case["inputs"]["f"]), case["inputs"]["x"]
    expected = jacobian(f, x)
    variants = [
        ("this is the gradient of f(x).sum() (the Jacobian's rows added up): build "
         "one row per output element, each from its own one-hot vector",
         expected.sum(dim=0)),
    ]
    _close("ex-jacobian-builder", "the Jacobian", got, expected, variants=variants)


# -------------------------------------------------------------------- ch04: contract

def _rank_note(r: int) -> str:
    return (f"G of rank {r}: contract must work for G of any rank (sum over the first "
            f"G.ndim dims of J, whatever G.ndim is)")


def _cases_contract(seed: int) -> list:
    gen = _gen(seed)
    out = []
    for N, D, M in SHAPES:
        G, J = _rand(gen, N, M), _rand(gen, N, M, N, D)
        out.append(_case({"G": G, "J": J}, _shapes(G=G, J=J)))
    for S, T in [((), (3, 2)), ((4,), (3,)), ((2, 3, 4), (5, 2)), ((3, 2), (4, 1, 2))]:
        G, J = _rand(gen, *S), _rand(gen, *S, *T)
        out.append(_case({"G": G, "J": J}, _shapes(G=G, J=J),
                         "" if len(S) == 2 else _rank_note(len(S))))
    return out


def _judge_contract(case: dict, got) -> None:
    G, J = case["inputs"]["G"], case["inputs"]["J"]
    expected = contract(G, J)
    variants = []
    if G.ndim == 2 and J.ndim == 4 and J.shape[2] == G.shape[0]:
        variants = [
            ("you summed over the input dims of J (the last ones); sum over the output "
             "dims, the first G.ndim dims of J, which G's dims line up with",
             (G[:, :, None, None] * J).sum(dim=(2, 3))),
            ("you kept only the terms where the output's example index equals the "
             "input's: sum over every output element",
             torch.einsum("nm,nmnd->nd", G, J)),
        ]
    _close("ex-generalized-contract", "the contraction", got, expected, variants=variants)


# ---------------------------------------------------------------- ch05: linear layer

def _leading_note(lead: tuple) -> str:
    what = "no leading dim, X of shape (D,)" if not lead else f"leading dims {fmt_shape(lead)}"
    return (f"leading dimensions ({what}): X may have shape (*, D), any number of leading "
            f"dims; flatten them, e.g. X.reshape(-1, D), and give dX the shape of X")


def _cases_linear(seed: int, weight_shape: Callable, wname: str) -> list:
    gen = _gen(seed)
    out = []
    plan = [((N,), D, M, "") for N, D, M in SHAPES]
    plan[-1] = (plan[-1][0], plan[-1][1], plan[-1][2], M1)  # (3, 5, 1)
    plan += [((1,), 4, 3, N1), ((2, 3), 4, 5, _leading_note((2, 3))),
             ((3, 1, 2), 2, 3, _leading_note((3, 1, 2))), ((), 3, 2, _leading_note(()))]
    for lead, D, M, note in plan:
        X, weight, G = _rand(gen, *lead, D), _rand(gen, *weight_shape(D, M)), _rand(gen, *lead, M)
        out.append(_case({"G": G, "X": X, wname: weight},
                         _shapes(**{"G": G, "X": X, wname: weight}), note))
    return out


def _linear_variants(G: torch.Tensor) -> list[Variant]:
    """Known wrong bias gradients for ``G`` of shape (*, M)."""
    G = G.reshape(-1, G.shape[-1])
    return [
        ("the bias gradient is summed over the wrong axis: sum G over the examples "
         "(dim 0), which gives one number per output feature, shape (M,)", G.sum(dim=1)),
        ("the bias gradient is summed over every axis: sum G over the examples only "
         "(dim 0), shape (M,)", G.sum()),
        ("the bias gradient is G itself: sum G over the examples (dim 0), shape (M,)", G),
    ]


def _judge_linear_family(label, case, got, *, reference, wname, outputs):
    G, X, weight = (case["inputs"][k] for k in ("G", "X", wname))
    expected = reference(G, X, weight)
    got = _unpack(label, got, outputs, expected)
    n = G.reshape(-1, G.shape[-1]).shape[0]
    for what, g, e, v in zip(outputs, got, expected, ([], [], _linear_variants(G))):
        _close(label, what, g, e, variants=v, n=n)


def _judge_linear(case, got):
    _judge_linear_family("ex-linear-vjp", case, got, reference=linear_vjp, wname="W",
                         outputs=("dX", "dW", "db"))


def _judge_nn_linear(case, got):
    _judge_linear_family("ex-linear-nn-vjp", case, got, reference=nn_linear_vjp,
                         wname="weight", outputs=("dX", "dweight", "dbias"))


# ------------------------------------------------------------------------ ch07: ReLU

def _cases_relu(seed: int) -> list:
    gen = _gen(seed)
    out = []
    plan = [((N, M), "") for N, _, M in SHAPES] + [
        ((1, 5), N1), ((2, 3, 4), "Z of any shape (here 3-D)"), ((5,), "Z of any shape (here 1-D)")]
    for shape, note in plan:
        Z, G = _rand(gen, *shape), _rand(gen, *shape)
        Z.view(-1)[::3] = 0.0  # exact zeros: ReLU's derivative there is taken as 0
        out.append(_case({"G": G, "Z": Z}, _shapes(G=G, Z=Z), note))
    return out


def _judge_relu(case, got):
    G, Z = case["inputs"]["G"], case["inputs"]["Z"]
    expected = relu_vjp(G, Z)
    variants = [
        ("at Z == 0 the derivative is taken as 0 (as PyTorch does): use the mask "
         "Z > 0, not Z >= 0", G * (Z >= 0).to(F64)),
        ("you returned the mask alone: multiply the upstream gradient G by the "
         "mask (Z > 0)", (Z > 0).to(F64)),
        ("you multiplied G by relu(Z); ReLU's derivative is the 0/1 mask (Z > 0)",
         G * torch.relu(Z)),
        ("the mask comes from the ReLU's input Z, not from G: G * (Z > 0)",
         G * (G > 0).to(F64)),
        ("the mask is inverted: keep G where Z > 0 and zero it elsewhere", G * (Z <= 0).to(F64)),
        ("the mask is inverted: keep G where Z > 0 and zero it elsewhere", G * (Z < 0).to(F64)),
        ("you returned G unchanged: ReLU's VJP zeroes G where Z <= 0", G),
    ]
    _close("ex-mlp-relu-vjp", "dL/dZ", got, expected, variants=variants,
           n=G.shape[0] if G.ndim else None)


# ------------------------------------------------------------------------ the registry

_NO_AUTOGRAD = Policy()

EXERCISES: dict[str, Exercise] = {ex.label: ex for ex in [
    Exercise("ex-scalar-central-difference", "my_central_difference", "01_scalar_derivative",
             "check_central_difference", ("f", "x", "eps"), _cases_central_difference,
             _judge_central_difference, "9 points (sin, exp, cube at three x each)", seed=1,
             policy=Policy(modules=("math",), text="plain Python floats: no torch, no helpers")),
    Exercise("ex-gradient-softmax-ce", "my_softmax_cross_entropy_vjp", "02_gradient",
             "check_softmax_cross_entropy_vjp", ("logits", "labels"), _cases_softmax,
             _judge_softmax, "6 random (N, C) shapes, N = 1 and logits of +-1000", seed=2,
             policy=Policy(forbidden=("softmax", "log_softmax", "cross_entropy", "nll_loss",
                                      "softmin", "logsumexp"),
                           text="your function may not call the book's helpers, torch.softmax "
                                "(or log_softmax, cross_entropy), torch.autograd, torch.func "
                                "or .backward()"),
             reference="softmax_cross_entropy_vjp"),
    Exercise("ex-jacobian-builder", "my_jacobian", "03_jacobian", "check_jacobian",
             ("f", "x"), _cases_jacobian, _judge_jacobian,
             "5 random functions from (D,) to (M,), with M = 1 and D = 1", seed=3,
             policy=Policy(autograd=True,
                           forbidden=("jacobian", "jacrev", "jacfwd", "vjp", "jvp", "hessian",
                                      "hvp", "vhp", "functional", "func", "vmap"),
                           text="build the Jacobian from torch.autograd.grad (or .backward) "
                                "VJPs; no helpers, no torch.autograd.functional, no torch.func"),
             reference="jacobian"),
    Exercise("ex-generalized-contract", "my_contract", "04_generalized_jacobian",
             "check_contract", ("G", "J"), _cases_contract, _judge_contract,
             "8 random shapes, G of rank 0 to 3", seed=4,
             policy=Policy(forbidden=("einsum", "tensordot"),
                           text="your function may not call the book's helpers, einsum or "
                                "tensordot, torch.autograd, torch.func or .backward()"),
             reference="contract"),
    Exercise("ex-linear-vjp", "my_linear_vjp", "05_linear_layer", "check_linear_vjp",
             ("G", "X", "W"), lambda s: _cases_linear(s, lambda D, M: (D, M), "W"),
             _judge_linear, "8 random shapes (N, D, M), N = 1, M = 1 and leading dims (*, D)",
             seed=5, policy=_NO_AUTOGRAD, reference="linear_vjp"),
    Exercise("ex-linear-nn-vjp", "my_nn_linear_vjp", "05_linear_layer", "check_nn_linear_vjp",
             ("G", "X", "weight"), lambda s: _cases_linear(s, lambda D, M: (M, D), "weight"),
             _judge_nn_linear, "8 random shapes (N, D, M), N = 1, M = 1 and leading dims (*, D)",
             seed=6, policy=_NO_AUTOGRAD, reference="nn_linear_vjp"),
    Exercise("ex-mlp-relu-vjp", "my_relu_vjp", "07_mlp", "check_relu_vjp", ("G", "Z"),
             _cases_relu, _judge_relu,
             "7 random shapes (with exact zeros in Z), N = 1, 1-D and 3-D", seed=7,
             policy=_NO_AUTOGRAD, reference="relu_vjp"),
]}


check_central_difference = _checker("ex-scalar-central-difference", """\
Check ``fn(f, x, eps)`` approximates f'(x) by central differences (chapter 1).

The reference is the exact derivative of sin, exp and the cube at three points, with
``eps = 1e-5``; central differences are accurate to about 1e-10 there. Recognises:
forward or backward differences, a missing 2 in ``2 * eps``, a flipped sign, ``None``,
NaN/inf, an exception.
""")

check_softmax_cross_entropy_vjp = _checker("ex-gradient-softmax-ce", """\
Check ``fn(logits, labels)`` against :func:`helpers.softmax_cross_entropy_vjp` (chapter 2).

Cases include N = 1 and logits of +-1000 (the result must be finite: subtract the
row maximum). Recognises: a missing 1/N, a flipped sign (``y - p``), softmax over the
wrong axis, forgetting to subtract the one-hot labels, a transpose, wrong shape,
``None``, NaN/inf (overflow), float32, an exception.
""")

check_jacobian = _checker("ex-jacobian-builder", """\
Check a Jacobian builder ``fn(f, x)`` against :func:`helpers.jacobian` (chapter 3).

``f(x) = tanh(A @ x)`` maps ``(D,)`` to ``(M,)`` with ``M != D`` (and M = 1, D = 1), so
the Jacobian is ``(M, D)``. Recognises: a transposed Jacobian, the gradient of
``f(x).sum()`` instead of one row per output, an approximation (finite differences),
float32, wrong shape, ``None``, NaN/inf, an exception.
""")

check_contract = _checker("ex-generalized-contract", """\
Check ``fn(G, J)`` against :func:`helpers.contract` (chapter 4).

``G`` has shape ``S`` and ``J`` shape ``S + T``; the result has shape ``T``. Cases have
G of rank 0 to 3. Recognises: a sum over the input dims instead of the output dims,
keeping only the "diagonal" terms, a flattened result, a transpose, a fixed rank,
wrong shape, ``None``, NaN/inf, float32, an exception.
""")

check_linear_vjp = _checker("ex-linear-vjp", """\
Check ``fn(G, X, W) -> (dX, dW, db)`` against :func:`helpers.linear_vjp` (chapter 5).

X has shape ``(*, D)``: cases include N = 1, M = 1, two and three leading dims and none.
Recognises: a missing or extra transpose in ``dX`` or ``dW``, ``db`` summed over the
wrong axis (or over all axes, or not at all), a missing or extra 1/N, a flipped sign,
results in the wrong order, a tuple of the wrong length, wrong shape, ``None``,
NaN/inf, float32, an exception (e.g. a shape mismatch inside ``fn``).
""")

check_nn_linear_vjp = _checker("ex-linear-nn-vjp", """\
Check ``fn(G, X, weight)`` against :func:`helpers.nn_linear_vjp` (chapter 5).

``weight`` is PyTorch's ``(M, D)``. Recognises the same mistakes as
:func:`check_linear_vjp`, in particular ``dweight`` in the book's ``(D, M)`` layout.
""")

check_relu_vjp = _checker("ex-mlp-relu-vjp", """\
Check ``fn(G, Z)`` against :func:`helpers.relu_vjp` (chapter 7).

``Z`` has any shape and contains exact zeros, where the derivative is taken as 0.
Recognises: the mask ``Z >= 0``, the mask alone, ``G * relu(Z)``, a mask from ``G``,
an inverted mask, ``G`` unchanged, wrong shape, ``None``, NaN/inf, float32, an exception.
""")

# ------------------------------------------- ch08: convolution, layer norm, attention

def _cases_conv1d(seed: int) -> list:
    gen = _gen(seed)
    # (N, C, O, L, K): non-square, with single channels and a kernel as long as the input
    plan = [((2, 3, 4, 7, 3), ""), ((3, 2, 1, 6, 2), "O = 1 (a single output channel)"),
            ((1, 1, 2, 5, 4), "N = 1 and C = 1"),
            ((2, 2, 3, 4, 4), "a kernel as long as the input (K = L, one output position)")]
    out = []
    for (N, C, O, L, K), note in plan:
        X, W, G = _rand(gen, N, C, L), _rand(gen, O, C, K), _rand(gen, N, O, L - K + 1)
        out.append(_case({"G": G, "X": X, "W": W}, _shapes(G=G, X=X, W=W), note))
    return out


def _judge_conv1d(case, got):
    from .more_layers import conv1d_vjp

    label = "ex-more-conv1d-vjp"
    G, X, W = (case["inputs"][k] for k in ("G", "X", "W"))
    K = W.shape[-1]
    expected = conv1d_vjp(G, X, W)
    got = _unpack(label, got, ("dX", "dW", "db"), expected)
    padded = torch.nn.functional.pad(G, (K - 1, K - 1))
    idx = torch.arange(X.shape[-1])[:, None] + torch.arange(K)[None, :]
    unflipped = torch.einsum("nosk,ock->ncs", padded[..., idx], W)
    valid = G.shape[-1] - K + 1
    variants_dX = [("the kernel is not flipped: dX is the full convolution of G with the "
                    "kernel reversed along its length, W.flip(-1)", unflipped)]
    if valid > 0:  # a 'valid' correlation of G with the kernel, without the zero padding
        vidx = torch.arange(valid)[:, None] + torch.arange(K)[None, :]
        variants_dX.append((
            "dX is too short: a 'valid' correlation of G with the kernel; pad G with "
            "K - 1 zeros on both sides (a full convolution) so that dX has length L",
            torch.einsum("nosk,ock->ncs", G[..., vidx], W.flip(-1))))
    variants_db = [("the bias gradient sums over the wrong axes: sum G over the examples "
                    "and the positions (dims 0 and 2), one number per output channel",
                    G.sum(dim=(0, 1))),
                   ("the bias gradient sums over the examples only: sum over the positions "
                    "(dim 2) too", G.sum(dim=0)),
                   ("the bias gradient sums over the positions only: sum over the examples "
                    "(dim 0) too", G.sum(dim=2))]
    variants_dW = [("dW has its channel axes swapped: it is (O, C, K), out-channels first",
                    expected[1].transpose(0, 1)),
                   ("dW's kernel axis is reversed: correlate X with G, do not flip",
                    expected[1].flip(-1))]
    for what, g, e, v in zip(("dX", "dW", "db"), got, expected,
                             (variants_dX, variants_dW, variants_db)):
        _close(label, what, g, e, variants=v, n=G.shape[0])


def _cases_layer_norm(seed: int) -> list:
    gen = _gen(seed)
    plan = [((3, 5), ""), ((1, 4), N1), ((2, 3, 4), "leading dims (*, D): X of shape (2, 3, 4)"),
            ((4, 1), "D = 1 (a row that equals its mean)"), ((2, 6), "")]
    out = []
    for shape, note in plan:
        X, G, gamma = 2 * _rand(gen, *shape) + 1, _rand(gen, *shape), _rand(gen, shape[-1])
        out.append(_case({"G": G, "X": X, "gamma": gamma, "eps": 1e-5},
                         _shapes(G=G, X=X, gamma=gamma) + ", eps = 1e-05", note))
    return out


def _judge_layer_norm(case, got):
    from .more_layers import layer_norm_vjp

    label = "ex-more-layer-norm-vjp"
    G, X, gamma, eps = (case["inputs"][k] for k in ("G", "X", "gamma", "eps"))
    D = X.shape[-1]
    expected = layer_norm_vjp(G, X, gamma, eps)
    got = _unpack(label, got, ("dX", "dgamma", "dbeta"), expected)
    s = torch.sqrt(X.var(dim=-1, unbiased=False, keepdim=True) + eps)
    x_hat = (X - X.mean(dim=-1, keepdim=True)) / s
    g = gamma * G
    variants_dX = [
        ("the mean and the variance are treated as constants (gamma * G / s): both "
         "statistics depend on every entry of the row, which adds two correction terms",
         g / s),
        ("the variance's correction is missing: subtract x_hat * mean(gamma * G * x_hat) "
         "as well as the mean of gamma * G", (g - g.mean(dim=-1, keepdim=True)) / s),
        ("the mean's correction is missing: subtract mean(gamma * G) along the row",
         (g - x_hat * (g * x_hat).mean(dim=-1, keepdim=True)) / s),
        ("gamma is forgotten: the upstream gradient of x_hat is gamma * G",
         (G - G.mean(dim=-1, keepdim=True) - x_hat * (G * x_hat).mean(dim=-1, keepdim=True)) / s),
        ("the row statistics use the unbiased variance (divided by D - 1); LayerNorm "
         "divides by D",
         _ln_dx_unbiased(G, X, gamma, eps)),
    ]
    variants_dgamma = [("dgamma is the sum of G alone: it is the sum of G * x_hat over "
                        "every leading dim", G.reshape(-1, D).sum(dim=0)),
                       ("dgamma is not summed over the examples: sum G * x_hat over every "
                        "leading dim, shape (D,)", G * x_hat)]
    variants_dbeta = [("dbeta is not summed over the examples: sum G over every leading dim, "
                       "shape (D,)", G)]
    for what, gg, e, v in zip(("dX", "dgamma", "dbeta"), got, expected,
                              (variants_dX, variants_dgamma, variants_dbeta)):
        _close(label, what, gg, e, variants=v)


def _ln_dx_unbiased(G, X, gamma, eps):
    """The right formula, but with the unbiased variance (divided by D - 1)."""
    if X.shape[-1] < 2:
        return torch.full_like(X, float("nan"))
    s = torch.sqrt(X.var(dim=-1, unbiased=True, keepdim=True) + eps)
    x_hat = (X - X.mean(dim=-1, keepdim=True)) / s
    g = gamma * G
    return (g - g.mean(dim=-1, keepdim=True) - x_hat * (g * x_hat).mean(dim=-1, keepdim=True)) / s


def _cases_attention(seed: int) -> list:
    gen = _gen(seed)
    plan = [((), 3, 4, 2, ""), ((), 1, 5, 3, "a single query (Nq = 1)"),
            ((2,), 4, 3, 5, "leading dims: Q of shape (2, 4, 5)"), ((), 5, 2, 4, "")]
    out = []
    for lead, Nq, Nk, d, note in plan:
        Q, K, G = _rand(gen, *lead, Nq, d), _rand(gen, *lead, Nk, d), _rand(gen, *lead, Nq, Nk)
        out.append(_case({"G": G, "Q": Q, "K": K}, _shapes(G=G, Q=Q, K=K), note))
    return out


def _judge_attention(case, got):
    from .more_layers import attention_scores_vjp

    label = "ex-more-attention-vjp"
    G, Q, K = (case["inputs"][k] for k in ("G", "Q", "K"))
    d = Q.shape[-1]
    expected = attention_scores_vjp(G, Q, K)
    got = _unpack(label, got, ("dQ", "dK"), expected)
    S = torch.softmax(Q @ K.transpose(-1, -2) / math.sqrt(d), dim=-1)
    diag_only = S * G / math.sqrt(d)
    dA = S * (G - (G * S).sum(dim=-1, keepdim=True)) / math.sqrt(d)
    forgot = ("the softmax's -p p^T term is forgotten (S * G is the Jacobian of exp, not of "
              "the softmax): subtract each row's sum of G * S before multiplying by S")
    no_scale = "the 1/sqrt(d) of the scores is missing (it scales both gradients)"
    variants = [
        [(forgot, diag_only @ K), (no_scale, math.sqrt(d) * expected[0])],
        [(forgot, diag_only.transpose(-1, -2) @ Q), (no_scale, math.sqrt(d) * expected[1])],
    ]
    if Q.shape == K.shape:  # square cases only: the wrong factor has the right shape
        variants[0].append(("dQ multiplies by Q instead of K: dQ = (dL/dA) @ K", dA @ Q))
        variants[1].append(("dK is missing a transpose: dK = (dL/dA)^T @ Q", dA @ Q))
    for what, g, e, v in zip(("dQ", "dK"), got, expected, variants):
        _close(label, what, g, e, variants=v)


EXERCISES.update({ex.label: ex for ex in [
    Exercise("ex-more-conv1d-vjp", "my_conv1d_vjp", "08_more_layers", "check_conv1d_vjp",
             ("G", "X", "W"), _cases_conv1d, _judge_conv1d,
             "4 random shapes (N, C, O, L, K), with N = 1, C = 1, O = 1 and K = L", seed=8,
             policy=_NO_AUTOGRAD, reference="conv1d_vjp"),
    Exercise("ex-more-layer-norm-vjp", "my_layer_norm_vjp", "08_more_layers",
             "check_layer_norm_vjp", ("G", "X", "gamma", "eps"), _cases_layer_norm,
             _judge_layer_norm, "5 random shapes, with N = 1, D = 1 and leading dims", seed=9,
             policy=Policy(forbidden=("layer_norm", "LayerNorm", "batch_norm", "group_norm"),
                           text="your function may not call the book's helpers, "
                                "layer_norm / nn.LayerNorm, torch.autograd, torch.func or "
                                ".backward()"),
             reference="layer_norm_vjp"),
    Exercise("ex-more-attention-vjp", "my_attention_scores_vjp", "08_more_layers",
             "check_attention_scores_vjp", ("G", "Q", "K"), _cases_attention, _judge_attention,
             "4 random shapes, with a single query and leading dims", seed=10,
             policy=Policy(forbidden=("scaled_dot_product_attention", "MultiheadAttention"),
                           text="your function may not call the book's helpers, "
                                "scaled_dot_product_attention, torch.autograd, torch.func or "
                                ".backward()"),
             reference="attention_scores_vjp"),
]})

check_conv1d_vjp = _checker("ex-more-conv1d-vjp", """\
Check ``fn(G, X, W) -> (dX, dW, db)`` against :func:`helpers.more_layers.conv1d_vjp` (chapter 8).

``X`` is ``(N, C, L)``, ``W`` is ``(O, C, K)``; cases include N = 1, C = 1, O = 1 and a
kernel as long as the input. Recognises: the kernel not flipped, a 'valid' instead of a
full convolution for dX, dW with swapped channel axes or a reversed kernel axis, db
summed over the wrong axes, results in the wrong order, wrong shape, ``None``, NaN/inf,
float32, an exception.
""")

check_layer_norm_vjp = _checker("ex-more-layer-norm-vjp", """\
Check ``fn(G, X, gamma, eps) -> (dX, dgamma, dbeta)`` against
:func:`helpers.more_layers.layer_norm_vjp` (chapter 8).

Cases include N = 1, D = 1 and leading dims. Recognises: the statistics treated as
constants, a missing mean or variance correction, gamma forgotten, the unbiased
variance, dgamma without x_hat, dgamma or dbeta not summed over the examples, results
in the wrong order, wrong shape, ``None``, NaN/inf, float32, an exception.
""")

check_attention_scores_vjp = _checker("ex-more-attention-vjp", """\
Check ``fn(G, Q, K) -> (dQ, dK)`` against :func:`helpers.more_layers.attention_scores_vjp`
(chapter 8).

Cases include a single query and leading dims. Recognises: the softmax's ``-p p^T``
term forgotten, a missing ``1/sqrt(d)``, dQ from Q instead of K, a missing transpose
in dK, results in the wrong order, wrong shape, ``None``, NaN/inf, float32, an
exception.
""")


for _name, _fn in list(globals().items()):
    if _name.startswith("check_"):
        _fn.__name__ = _fn.__qualname__ = _name
        _fn.__code__ = _fn.__code__.replace(co_name=_name)  # tracebacks say check_...
del _name, _fn
