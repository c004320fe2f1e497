"""Self-checks for the code exercises (one checker per exercise).

A code exercise asks the student to re-implement a helper with the same signature;
``check_<helper>(fn)`` runs ``fn`` on several random, non-square shapes in float64 and
compares it with the helper. It prints a one-line confirmation and returns True when
right, prints "not implemented yet" and returns False when ``fn`` raises
``NotImplementedError``, and raises ``AssertionError`` with a diagnosis otherwise.

The diagnosis names the classic mistake when the wrong answer matches a known wrong
variant: a missing or extra transpose, a sum over the wrong axis, a missing or extra
1/N, a flipped sign, a wrong shape (expected and got), ``None``, a tuple of the wrong
length or order, NaN/inf, float32 instead of float64, and an exception raised by the
student's function (its type, message and the line of the student's code, without a
traceback from inside the helpers). ``reference/instructors.md`` lists the checkers.

:data:`EXERCISES` maps each code exercise's label to its checker and function name;
the student-copy generator (:mod:`helpers.student`) and the grader
(:mod:`helpers.grade`) read it.
"""

from __future__ import annotations

import math
import os
import traceback
from typing import Callable, Sequence

import torch

from .jacobians import contract, jacobian
from .layers import linear_vjp, nn_linear_vjp, relu_vjp, softmax_cross_entropy_vjp
from .shapes import fmt_shape

__all__ = [
    "EXERCISES",
    "check_central_difference",
    "check_contract",
    "check_jacobian",
    "check_linear_vjp",
    "check_nn_linear_vjp",
    "check_relu_vjp",
    "check_softmax_cross_entropy_vjp",
]

F64 = torch.float64
RTOL, ATOL = 1e-6, 1e-8

#: non-square (N, D, M), no two sizes equal within a case (except a size of 1), so
#: that a missing transpose or a sum over the wrong axis cannot pass by accident
SHAPES = [(2, 3, 4), (5, 2, 3), (4, 3, 2), (3, 5, 1)]

_HELPERS_DIR = os.path.dirname(os.path.abspath(__file__))


class _NotYet(Exception):
    """The student's function raised NotImplementedError (the stub is still there)."""


# ----------------------------------------------------------------------------- calling

def _student_line(exc: BaseException) -> str:
    """Where in the student's code ``exc`` was raised, as `` (in my_f, line 3: `code`)``.

    The deepest frame that is neither in the helpers nor in an installed library,
    i.e. the student's own cell; empty if there is none (the error came from a library
    called directly, which the message then explains on its own).
    """
    frames = traceback.extract_tb(exc.__traceback__)
    own = [fr for fr in frames
           if not fr.filename.startswith(_HELPERS_DIR)
           and "site-packages" not in fr.filename and "dist-packages" not in fr.filename]
    if not own:
        return ""
    fr = own[-1]
    code = f": `{fr.line.strip()}`" if fr.line else ""
    return f" (in {fr.name}, line {fr.lineno}{code})"


_SHAPE_ERRORS = ("cannot be multiplied", "size of tensor", "must match the size",
                 "shape mismatch", "inconsistent", "dimension", "not broadcastable",
                 "shapes cannot", "mat1 and mat2", "expected size")


def _call(label: str, fn: Callable, args: Sequence, shapes: str):
    """Call the student's ``fn(*args)`` on copies of ``args``.

    NotImplementedError becomes :class:`_NotYet`; any other exception becomes an
    ``AssertionError`` naming its type, message and the student's line, raised
    ``from None`` so that no traceback from inside the helpers is chained to it.
    """
    __tracebackhide__ = True  # IPython and pytest hide this frame
    copies = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    try:
        return fn(*copies)
    except NotImplementedError:
        raise _NotYet() from None
    except Exception as exc:  # noqa: BLE001 - the student's code failed: diagnose it
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        hint = ""
        if any(s in msg for s in _SHAPE_ERRORS):
            hint = (" -- a shape mismatch inside your code: write down the shape of every"
                    " factor and check which one needs a transpose")
        raise AssertionError(
            f"{label}: your function raised {type(exc).__name__}: {msg}"
            f"{_student_line(exc)} when called with {shapes}{hint}"
        ) from None


def _run(label: str, cases: Callable[[], str]) -> tuple[bool, str | None]:
    """Run the cases; return (passed, diagnosis or None) and print the outcome.

    The public checker raises the ``AssertionError`` itself, so that a notebook's
    traceback ends in the checker the student called, not deep inside this module.
    """
    try:
        done = cases()
    except _NotYet:
        print(f"{label}: not implemented yet (replace the NotImplementedError with your code)")
        return False, None
    except AssertionError as exc:
        return False, str(exc)
    print(f"{label}: correct on {done}")
    return True, None


# ------------------------------------------------------------------------- diagnosing

def _isclose(a: torch.Tensor, b: torch.Tensor) -> bool:
    return tuple(a.shape) == tuple(b.shape) and bool(
        torch.allclose(a.to(F64), b.to(F64), rtol=RTOL, atol=ATOL))


def _scale(got: torch.Tensor, expected: torch.Tensor) -> float | None:
    """``c`` if ``got`` is ``c * expected`` for a scalar ``c`` (not 1), else None."""
    e, g = expected.to(F64).reshape(-1), got.to(F64).reshape(-1)
    ee = float(e @ e)
    if ee == 0.0:
        return None
    c = float(g @ e) / ee
    if abs(c - 1.0) < 1e-9 or c == 0.0:
        return None
    return c if _isclose(g, c * e) else None


Variant = tuple[str, torch.Tensor]
"""A known wrong answer: (what the mistake is, the value the mistake produces)."""


def _close(label: str, what: str, got, expected: torch.Tensor, *,
           variants: Sequence[Variant] = (), n: int | None = None) -> None:
    """Raise ``AssertionError`` with a diagnosis unless ``got`` equals ``expected``.

    Parameters
    ----------
    label, what : str
        The exercise's label and the name of the quantity (``"dW"``), for the message.
    got : object
        What the student's function returned.
    expected : torch.Tensor
        The reference value (float64).
    variants : sequence of (message, tensor)
        Known wrong answers; if ``got`` matches one, its message is the diagnosis.
    n : int, optional
        The number of examples N, to recognise a missing or extra 1/N.
    """
    __tracebackhide__ = True
    pre = f"{label}: {what}"
    if got is None:
        raise AssertionError(f"{pre} is None: did you forget to `return` it?")
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{pre} should be a torch.Tensor, got {type(got).__name__}")
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
    __tracebackhide__ = True
    want = "(" + ", ".join(names) + ")"
    if got is None:
        raise AssertionError(f"{label}: your function returned None: did you forget to "
                             f"`return {', '.join(names)}`?")
    if not isinstance(got, (tuple, list)):
        raise AssertionError(f"{label}: return a tuple {want}, got a single "
                             f"{type(got).__name__}")
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
    return torch.randn(*shape, dtype=F64, generator=gen)


def _shapes(**tensors: torch.Tensor) -> str:
    return ", ".join(f"{k} of shape {fmt_shape(v.shape)}" for k, v in tensors.items())


# --------------------------------------------------------------------------- checkers

def check_central_difference(fn: Callable[[Callable[[float], float], float, float], float]) -> bool:
    """Check ``fn(f, x, eps)`` approximates f'(x) by central differences (chapter 1).

    The reference is the exact derivative of three functions at three points, with
    ``eps = 1e-5``; central differences are accurate to about 1e-10 there.
    Recognises: forward or backward differences, a missing 2 in ``2 * eps``, a
    flipped sign, ``None``, NaN/inf, an exception.
    """
    __tracebackhide__ = True
    label = "ex-scalar-central-difference"
    eps = 1e-5

    def cases():
        funcs = [(math.sin, math.cos), (math.exp, math.exp),
                 (lambda t: t**3, lambda t: 3 * t**2)]
        for f, df in funcs:
            for x in (0.3, -1.2, 2.0):
                got = _call(label, fn, (f, x, eps), f"f, x = {x}, eps = {eps}")
                if got is None:
                    raise AssertionError(f"{label}: your function returned None: did you "
                                         f"forget to `return` the derivative?")
                try:
                    got = float(got)
                except (TypeError, ValueError):
                    raise AssertionError(f"{label}: return a number, got "
                                         f"{type(got).__name__}") from None
                exact = df(x)
                if not math.isfinite(got):
                    raise AssertionError(f"{label}: at x = {x} you returned {got}")
                if abs(got - exact) <= 1e-8 * max(1.0, abs(exact)):
                    continue
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
                        raise AssertionError(f"{label}: at x = {x} you returned {got:.10g}, "
                                             f"expected {exact:.10g}: {why}")
                raise AssertionError(f"{label}: at x = {x} you returned {got:.10g}, "
                                     f"expected {exact:.10g}")
        return "9 points (sin, exp, cube at three x each)"

    ok, diagnosis = _run(label, cases)
    if diagnosis:
        raise AssertionError(diagnosis)
    return ok


def check_softmax_cross_entropy_vjp(fn: Callable) -> bool:
    """Check ``fn(logits, labels)`` against :func:`helpers.softmax_cross_entropy_vjp` (chapter 2).

    Recognises: a missing 1/N, a flipped sign (``y - p``), softmax over the wrong axis,
    forgetting to subtract the one-hot labels, a transpose, wrong shape, ``None``,
    NaN/inf, float32, an exception.
    """
    __tracebackhide__ = True
    label = "ex-gradient-softmax-ce"

    def cases():
        gen = _gen(2)
        for N, C in [(2, 3), (5, 4), (4, 2), (3, 5)]:
            logits = 3 * _rand(gen, N, C)
            labels = torch.randint(0, C, (N,), generator=gen)
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
                ("you forgot to subtract the one-hot labels y: the gradient is (p - y) / N",
                 p / N),
                ("you forgot to subtract the one-hot labels y: the gradient is (p - y) / N",
                 p),
            ]
            got = _call(label, fn, (logits, labels), _shapes(logits=logits, labels=labels))
            _close(label, "dL/dlogits", got, expected, variants=variants, n=N)
        return "4 random non-square (N, C) shapes"

    ok, diagnosis = _run(label, cases)
    if diagnosis:
        raise AssertionError(diagnosis)
    return ok


def check_jacobian(fn: Callable) -> bool:
    """Check a Jacobian builder ``fn(f, x)`` against :func:`helpers.jacobian` (chapter 3).

    ``f(x) = tanh(A @ x)`` maps ``(D,)`` to ``(M,)`` with ``M != D``, so the Jacobian is
    ``(M, D)``. Recognises: a transposed Jacobian ``(D, M)``, the gradient of
    ``f(x).sum()`` (one VJP with a vector of ones) instead of one row per output,
    an approximation (finite differences), float32, wrong shape, ``None``, NaN/inf,
    an exception.
    """
    __tracebackhide__ = True
    label = "ex-jacobian-builder"

    def cases():
        gen = _gen(3)
        for _, D, M in SHAPES:
            A = _rand(gen, M, D)
            x = _rand(gen, D)

            def f(v, A=A):
                return torch.tanh(A @ v)

            expected = jacobian(f, x)
            variants = [
                ("this is the gradient of f(x).sum() (the Jacobian's rows added up): build "
                 "one row per output element, each from its own one-hot vector",
                 expected.sum(dim=0)),
            ]
            got = _call(label, fn, (f, x), f"f: (D,) -> (M,) and x of shape ({D},), "
                                           f"D = {D}, M = {M}")
            _close(label, "the Jacobian", got, expected, variants=variants)
        return "4 random functions from (D,) to (M,) with M != D"

    ok, diagnosis = _run(label, cases)
    if diagnosis:
        raise AssertionError(diagnosis)
    return ok


def check_contract(fn: Callable) -> bool:
    """Check ``fn(G, J)`` against :func:`helpers.contract` (chapter 4).

    ``G`` is ``(N, M)`` and ``J`` is ``(N, M, N, D)``; the result is ``(N, D)``.
    Recognises: a sum over the input dims instead of the output dims, keeping only the
    "diagonal" terms (same example index), a flattened result, a transpose,
    wrong shape, ``None``, NaN/inf, float32, an exception.
    """
    __tracebackhide__ = True
    label = "ex-generalized-contract"

    def cases():
        gen = _gen(4)
        for N, D, M in SHAPES:
            G = _rand(gen, N, M)
            J = _rand(gen, N, M, N, D)
            expected = contract(G, J)
            variants = [
                ("you summed over the input dims of J (the last ones); sum over the output "
                 "dims, the first G.ndim dims of J, which G's dims line up with",
                 (G[:, :, None, None] * J).sum(dim=(2, 3))),
                ("you kept only the terms where the output's example index equals the "
                 "input's: sum over every output element",
                 torch.einsum("nm,nmnd->nd", G, J)),
            ]
            got = _call(label, fn, (G, J), _shapes(G=G, J=J))
            _close(label, "the contraction", got, expected, variants=variants)
        return "4 random non-square shapes"

    ok, diagnosis = _run(label, cases)
    if diagnosis:
        raise AssertionError(diagnosis)
    return ok


def _linear_variants(G: torch.Tensor) -> list[Variant]:
    """Known wrong bias gradients for ``G`` of shape (N, M)."""
    return [
        ("the bias gradient is summed over the wrong axis: sum G over the examples "
         "(dim 0), which gives one number per output feature, shape (M,)", G.sum(dim=1)),
        ("the bias gradient is summed over every axis: sum G over the examples only "
         "(dim 0), shape (M,)", G.sum()),
        ("the bias gradient is G itself: sum G over the examples (dim 0), shape (M,)", G),
    ]


def check_linear_vjp(fn: Callable) -> bool:
    """Check ``fn(G, X, W) -> (dX, dW, db)`` against :func:`helpers.linear_vjp` (chapter 5).

    Recognises: a missing or extra transpose in ``dX`` or ``dW``, ``db`` summed over
    the wrong axis (or over all axes, or not at all), a missing or extra 1/N, a
    flipped sign, results in the wrong order, a tuple of the wrong length, wrong shape,
    ``None``, NaN/inf, float32, an exception (e.g. a shape mismatch inside ``fn``).
    """
    __tracebackhide__ = True
    ok, diagnosis = _run_linear_family(
        "ex-linear-vjp", fn, seed=5, reference=linear_vjp, weight_shape=lambda D, M: (D, M),
        names=("G", "X", "W"), outputs=("dX", "dW", "db"))
    if diagnosis:
        raise AssertionError(diagnosis)
    return ok


def _run_linear_family(label, fn, *, seed, reference, weight_shape, names, outputs):
    """Shared body of the two linear-layer checkers: only the weight's layout differs."""

    def cases():
        gen = _gen(seed)
        for N, D, M in SHAPES:
            X, weight, G = _rand(gen, N, D), _rand(gen, *weight_shape(D, M)), _rand(gen, N, M)
            expected = reference(G, X, weight)
            got = _call(label, fn, (G, X, weight), _shapes(**dict(zip(names, (G, X, weight)))))
            got = _unpack(label, got, outputs, expected)
            variants = ([], [], _linear_variants(G))
            for what, g, e, v in zip(outputs, got, expected, variants):
                _close(label, what, g, e, variants=v, n=N)
        return "4 random non-square shapes (N, D, M)"

    return _run(label, cases)


def check_nn_linear_vjp(fn: Callable) -> bool:
    """Check ``fn(G, X, weight)`` against :func:`helpers.nn_linear_vjp` (chapter 5).

    ``weight`` is PyTorch's ``(M, D)``. Recognises the same mistakes as
    :func:`check_linear_vjp`, in particular ``dweight`` in the book's ``(D, M)``
    layout (a transpose).
    """
    __tracebackhide__ = True
    ok, diagnosis = _run_linear_family(
        "ex-linear-nn-vjp", fn, seed=6, reference=nn_linear_vjp,
        weight_shape=lambda D, M: (M, D), names=("G", "X", "weight"),
        outputs=("dX", "dweight", "dbias"))
    if diagnosis:
        raise AssertionError(diagnosis)
    return ok


def check_relu_vjp(fn: Callable) -> bool:
    """Check ``fn(G, Z)`` against :func:`helpers.relu_vjp` (chapter 7).

    ``Z`` contains some exact zeros, where the derivative is taken as 0.
    Recognises: the mask ``Z >= 0`` (wrong at 0), the mask alone (G forgotten),
    ``G * relu(Z)``, a mask from ``G`` instead of ``Z``, an inverted mask, ``G``
    unchanged, wrong shape, ``None``, NaN/inf, float32, an exception.
    """
    __tracebackhide__ = True
    label = "ex-mlp-relu-vjp"

    def cases():
        gen = _gen(7)
        for N, _, M in SHAPES:
            Z, G = _rand(gen, N, M), _rand(gen, N, M)
            Z.view(-1)[::3] = 0.0  # exact zeros: ReLU's derivative there is taken as 0
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
                ("the mask is inverted: keep G where Z > 0 and zero it elsewhere",
                 G * (Z <= 0).to(F64)),
                ("the mask is inverted: keep G where Z > 0 and zero it elsewhere",
                 G * (Z < 0).to(F64)),
                ("you returned G unchanged: ReLU's VJP zeroes G where Z <= 0", G),
            ]
            got = _call(label, fn, (G, Z), _shapes(G=G, Z=Z))
            _close(label, "dL/dZ", got, expected, variants=variants, n=N)
        return "4 random non-square shapes (with exact zeros in Z)"

    ok, diagnosis = _run(label, cases)
    if diagnosis:
        raise AssertionError(diagnosis)
    return ok


#: label -> (checker, name of the student's function, chapter notebook stem)
EXERCISES = {
    "ex-scalar-central-difference": (check_central_difference, "my_central_difference",
                                     "01_scalar_derivative"),
    "ex-gradient-softmax-ce": (check_softmax_cross_entropy_vjp, "my_softmax_cross_entropy_vjp",
                               "02_gradient"),
    "ex-jacobian-builder": (check_jacobian, "my_jacobian", "03_jacobian"),
    "ex-generalized-contract": (check_contract, "my_contract", "04_generalized_jacobian"),
    "ex-linear-vjp": (check_linear_vjp, "my_linear_vjp", "05_linear_layer"),
    "ex-linear-nn-vjp": (check_nn_linear_vjp, "my_nn_linear_vjp", "05_linear_layer"),
    "ex-mlp-relu-vjp": (check_relu_vjp, "my_relu_vjp", "07_mlp"),
}
