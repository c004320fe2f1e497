"""The machinery every exercise checker shares: declaring, running, recording, judging.

A code exercise asks the student to re-implement a helper with the same signature. Each
chapter's exercises live in their own module (:mod:`helpers.exercises.ch05` holds
``ex-linear-vjp``); this module holds what they share:

- :class:`Exercise` and :class:`Policy`, and :func:`register`, which declares an exercise
  once and returns its self-check ``check_<helper>(fn)``;
- the records of a run as pure data (:func:`validate_record`) and :func:`verdict`, the one
  judge that both the self-check cells and the grader (``booktools.grade``) call;
- the diagnosing comparison :func:`close` (a known wrong variant, a transpose, a missing
  1/N, a flipped sign, a wrong shape or dtype...), :func:`unpack` for tuples of results,
  and the case builders :func:`generator`, :func:`rand`, :func:`shapes`, :func:`case`.

The self-check runs :func:`helpers.harness.run_case` in-process and then :func:`verdict`;
the grader runs ``run_case`` in a sandboxed kernel on cases from a secret seed, loads the
records as data and calls the same :func:`verdict`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from ..harness import run_case
from ..shapes import fmt_shape

__all__ = ["CHECKERS", "EXERCISES", "F64", "M1", "N1", "SHAPES", "BadRecord", "Exercise",
           "Opaque", "Policy", "TENSOR_BASICS", "Variant", "case", "close", "generator", "isclose", "rand", "register", "shapes",
           "tname", "unpack", "validate_record", "verdict"]

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
    #: the ALLOWLIST: the attribute names (``X.T``, ``torch.sum``) and imported names the
    #: cell may reach; ``"@tensor"`` stands for :data:`TENSOR_BASICS`. ``None`` = not
    #: declared (every exercise of the book declares one: tests/test_grade_policy.py)
    allow: tuple[str, ...] | None = None
    #: whether finite differences (calling a given function at shifted points) are allowed;
    #: enforced at run time by the guard's forward-call budget where the case passes a function
    finite_differences: bool = False
    #: where finite differences are forbidden and the case passes only tensors: the most
    #: tensor operations one call may run (the grader's guard counts them; a closed form
    #: needs a few dozen, a difference quotient per entry of X and W hundreds). ``None``:
    #: not counted
    op_budget: int | None = None

    def allowed(self) -> frozenset[str]:
        """The allowlist with ``"@tensor"`` expanded (empty when none is declared)."""
        out = set()
        for name in self.allow or ():
            out |= TENSOR_BASICS if name == "@tensor" else {name}
        return frozenset(out - set(self.forbidden))

    def allow_text(self) -> str:
        extra = sorted(set(self.allow or ()) - {"@tensor"})
        base = "tensor arithmetic and shapes (@, +, *, .T, reshape, sum, ...)" \
            if "@tensor" in (self.allow or ()) else "plain Python"
        return base + (", and " + ", ".join(extra) if extra else "")


#: what every tensor exercise may reach: arithmetic, shapes, reductions, creation,
#: elementwise functions (no autograd, no torch.func, no modules, optimisers or library
#: code that runs autograd inside: ``nn.Linear``, ``optim``, ``distributions``, ``nn.grad``)
TENSOR_BASICS = frozenset({
    "T", "mT", "shape", "ndim", "dtype", "device", "size", "dim", "numel", "item", "tolist",
    "reshape", "view", "view_as", "transpose", "permute", "t", "flatten", "unflatten",
    "squeeze", "unsqueeze", "expand", "expand_as", "contiguous", "clone", "detach",
    "flip", "roll", "narrow", "select", "split", "chunk", "unbind", "repeat", "tile",
    "sum", "mean", "var", "std", "prod", "cumsum", "max", "min", "amax", "amin",
    "argmax", "argmin", "values", "indices", "norm", "matmul", "mm", "bmm", "mv", "dot",
    "outer", "einsum", "tensordot", "linear", "pad", "exp", "log", "log1p", "expm1",
    "sqrt", "rsqrt", "abs", "sign", "tanh", "sigmoid", "relu", "softmax", "square", "pow",
    "clamp", "clamp_min", "clip", "where", "maximum", "minimum", "add", "sub", "mul", "div",
    "neg", "reciprocal", "sin", "cos", "eq", "ne", "gt", "lt", "ge", "le", "float", "double",
    "to", "type_as", "new_zeros", "new_ones", "zeros", "zeros_like", "ones", "ones_like",
    "full", "full_like", "empty", "empty_like", "Tensor", "eye", "arange", "linspace", "tensor", "as_tensor",
    "stack", "cat", "concat", "hstack", "vstack", "diag", "diagonal", "diag_embed", "tril",
    "triu", "float64", "float32", "int64", "long", "bool", "nn", "functional", "append",
    "extend", "items", "keys", "pi", "inf", "allclose", "isclose", "isfinite", "copy_",
    "fill_", "zero_", "index_add_", "scatter_add_", "gather", "index_select",
    "masked_fill", "nonzero", "all", "any",
})


@dataclass(frozen=True)
class Exercise:
    """One code exercise, declared once with :func:`register` (see :mod:`helpers.exercises`)."""

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
        """The self-check ``check_...(fn)`` that :func:`register` made for this exercise."""
        return CHECKERS[self.label]



#: every exercise of the book, by label (filled by :func:`register`, when
#: :mod:`helpers.exercises` imports the chapter modules)
EXERCISES: dict[str, Exercise] = {}
#: each exercise's self-check, by label
CHECKERS: dict[str, Callable] = {}


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
        out += [Opaque("an element not recorded")] * (min(n, 10 ** 6) - len(out))
        return tuple(out) if v.get("type") == "tuple" else out
    if t == "other":
        return Opaque(_str(v.get("type"), "a type name"))
    raise BadRecord(f"unknown value kind {t!r}")


class Opaque:
    """What the student returned when it cannot be recorded as data (its type name)."""

    def __init__(self, type_name: str):
        self.type_name = type_name


def tname(x) -> str:
    return x.type_name if isinstance(x, Opaque) else type(x).__name__


def validate_record(record) -> dict:
    """``record`` if it has the shape :func:`helpers.harness.run_case` gives; else BadRecord."""
    if not isinstance(record, dict) or record.get("status") not in ("ok", "notyet", "error"):
        raise BadRecord(f"a record is a {type(record).__name__} without a valid status")
    if record["status"] == "error":
        for key in ("type", "message", "where"):
            _str(record.get(key), f"the error's {key}")
    if record["status"] == "ok":
        _value(record.get("value"))
        if "calls" in record:
            calls = record["calls"]
            if (not isinstance(calls, dict) or type(calls.get("n")) is not int
                    or not isinstance(calls.get("args"), list) or len(calls["args"]) > 64
                    or calls["n"] < len(calls["args"])):
                raise BadRecord("the record of the function's calls is not valid")
            for call in calls["args"]:
                if not isinstance(call, list) or len(call) > 4:
                    raise BadRecord("a recorded call is not a short list")
                for v in call:
                    _value(v, depth=1)
    return record


def _shifted_call(case: dict, record: dict) -> str | None:
    """The name of the function the case passed if the student's code called it at a point
    other than the case's inputs (finite differences), else None."""
    calls = record.get("calls")
    if not calls:
        return None
    inputs = [v for v in case["inputs"].values() if not isinstance(v, dict)]
    fname = next((k for k, v in case["inputs"].items() if isinstance(v, dict)), "f")

    def known(x) -> bool:
        for v in inputs:
            if isinstance(x, torch.Tensor) and isinstance(v, torch.Tensor):
                if x.shape == v.shape and torch.equal(x.to(v.dtype), v):
                    return True
            elif isinstance(x, float) and isinstance(v, (int, float)) and x == float(v):
                return True
        return False

    for call in calls["args"]:
        for v in call:
            x = _value(v, depth=1)
            if isinstance(x, (torch.Tensor, float)) and not known(x):
                return fname
    return None



def _excerpt(text, n: int) -> str:
    """``text`` as one line of printable characters, at most ``n`` of them (``…`` marks a cut)."""
    line = "".join(ch if ch.isprintable() else " " for ch in str(text))
    line = " ".join(line.split())
    return line if len(line) <= n else line[:n - 1] + "…"

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
                # the student's own text, kept short and printable: an exception message
                # is the one channel from the kernel into the diagnosis
                msg = _excerpt(record["message"], 300)
                where = _excerpt(record["where"], 160)
                etype = (record["type"] if re.fullmatch(r"[A-Za-z_]\w{0,60}", str(record["type"]))
                         else "an exception")
                hint = ""
                if etype == "MemoryError" or "allocate memory" in msg:
                    hint = (" -- out of memory: your function allocated more than the memory "
                            "limit (the cases are small: a result needs no large tensor)")
                elif any(s in msg for s in _SHAPE_ERRORS):
                    hint = (" -- a shape mismatch inside your code: write down the shape of "
                            "every factor and check which one needs a transpose")
                raise AssertionError(
                    f"{label}: your function raised {etype}: {msg}{where} "
                    f"when called with {case['desc']}{hint}")
            if not ex.policy.finite_differences:
                shifted = _shifted_call(case, record)
                if shifted is not None:
                    raise AssertionError(
                        f"{label}: your function called {shifted} at a point other than the "
                        f"input x (finite differences, {record['calls']['n']} calls), which "
                        f"this exercise forbids: {ex.policy.text}")
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



def register(ex: Exercise, doc: str) -> Callable:
    """Declare ``ex`` (once) and return its self-check ``check_...(fn)`` with docstring ``doc``.

    The self-check prints a one-line confirmation and returns True when ``fn`` is right,
    prints "not implemented yet" and returns False when ``fn`` raises
    ``NotImplementedError``, and raises ``AssertionError`` with the diagnosis otherwise.
    """
    if ex.label in EXERCISES:
        raise ValueError(f"exercise {ex.label!r} is declared twice")
    label = ex.label

    def check(fn: Callable) -> bool:
        __tracebackhide__ = True  # IPython and pytest hide this frame
        ok, diagnosis = _self_check(label, fn)
        if diagnosis:
            raise AssertionError(diagnosis)
        return ok

    check.__doc__ = doc
    check.__name__ = check.__qualname__ = ex.checker_name
    check.__code__ = check.__code__.replace(co_name=ex.checker_name)  # tracebacks say check_...
    EXERCISES[label] = ex
    CHECKERS[label] = check
    return check


# ------------------------------------------------------------------------- diagnosing

def isclose(a: torch.Tensor, b: torch.Tensor) -> bool:
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
    return c if isclose(g, c * e) else None


Variant = tuple[str, torch.Tensor]
"""A known wrong answer: (what the mistake is, the value the mistake produces)."""


def close(label: str, what: str, got, expected: torch.Tensor, *,
           variants: Sequence[Variant] = (), n: int | None = None) -> None:
    """Raise ``AssertionError`` with a diagnosis unless ``got`` equals ``expected``.

    ``variants`` are known wrong answers (message, value); ``n`` the number of examples
    N, to recognise a missing or extra 1/N.
    """
    pre = f"{label}: {what}"
    if got is None:
        raise AssertionError(f"{pre} is None: did you forget to `return` it?")
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{pre} should be a torch.Tensor, got {tname(got)}")
    E, Gs = fmt_shape(expected.shape), fmt_shape(got.shape)
    if tuple(got.shape) != tuple(expected.shape):
        if (got.ndim == 2 and expected.ndim == 2 and tuple(got.shape) == tuple(expected.shape)[::-1]
                and isclose(got.T, expected)):
            raise AssertionError(
                f"{pre} is the transpose of the right answer (expected shape {E}, got {Gs}): "
                f"a missing or extra transpose; check the order of the factors")
        for message, value in variants:
            if isclose(got, value):
                raise AssertionError(f"{pre} has the wrong shape (expected {E}, got {Gs}): {message}")
        if got.numel() == expected.numel() and isclose(got.reshape(expected.shape), expected):
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
    if isclose(got, expected):
        return
    for message, value in variants:
        if isclose(got, value):
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


def unpack(label: str, got, names: Sequence[str], expected: Sequence[torch.Tensor]):
    """Check that ``got`` is a tuple (or list) like ``expected``; diagnose order swaps."""
    want = "(" + ", ".join(names) + ")"
    if got is None:
        raise AssertionError(f"{label}: your function returned None: did you forget to "
                             f"`return {', '.join(names)}`?")
    if not isinstance(got, (tuple, list)):
        raise AssertionError(f"{label}: return a tuple {want}, got a single {tname(got)}")
    if len(got) != len(names):
        raise AssertionError(f"{label}: return a tuple of {len(names)} {want}, "
                             f"got a tuple of length {len(got)}")
    found = []
    for g in got:
        match = [j for j, e in enumerate(expected)
                 if isinstance(g, torch.Tensor) and isclose(g, e)]
        found.append(match[0] if match else None)
    if None not in found and found != list(range(len(names))):
        order = "(" + ", ".join(names[j] for j in found) + ")"
        raise AssertionError(f"{label}: the results are in the wrong order: return {want}; "
                             f"yours look like {order}")
    return got


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rand(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(tuple(shape), dtype=F64, generator=gen)


def shapes(**tensors: torch.Tensor) -> str:
    return ", ".join(f"{k} of shape {fmt_shape(v.shape)}" for k, v in tensors.items())


def case(inputs: dict, desc: str, note: str = "") -> dict:
    return {"inputs": inputs, "desc": desc, "note": note}


N1 = "N = 1 (a single example)"
M1 = "M = 1 (a single output feature)"
