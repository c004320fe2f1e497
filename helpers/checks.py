"""Self-checks for the code exercises (one checker per exercise).

A code exercise asks the student to re-implement a helper with the same signature;
``check_<helper>(fn)`` runs ``fn`` on several random, non-square shapes in float64 and
compares it with the helper. It prints a one-line confirmation and returns True when
right, prints "not implemented yet" and returns False when ``fn`` raises
``NotImplementedError``, and raises ``AssertionError`` with a diagnosis otherwise.

:data:`EXERCISES` maps each code exercise's label to its checker and function name;
the student-copy generator and the grader read it.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .jacobians import contract, jacobian
from .layers import linear_vjp, nn_linear_vjp, relu_vjp, softmax_cross_entropy_vjp

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


class _NotYet(Exception):
    pass


def _call(label: str, fn: Callable, *args):
    try:
        return fn(*args)
    except NotImplementedError as exc:
        raise _NotYet() from exc
    except Exception as exc:  # the student's code failed: report it, not our traceback
        raise AssertionError(
            f"{label}: your function raised {type(exc).__name__}: {exc}"
        ) from None


def _close(label: str, what: str, got, expected: torch.Tensor) -> None:
    if got is None:
        raise AssertionError(f"{label}: {what} is None; did you forget to return it?")
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{label}: {what} should be a torch.Tensor, got {type(got).__name__}")
    if tuple(got.shape) != tuple(expected.shape):
        raise AssertionError(
            f"{label}: {what} has the wrong shape: expected {tuple(expected.shape)}, "
            f"got {tuple(got.shape)}"
        )
    if not torch.isfinite(got).all():
        raise AssertionError(f"{label}: {what} contains NaN or inf")
    if not torch.allclose(got.to(F64), expected.to(F64), rtol=1e-6, atol=1e-8):
        diff = float((got.to(F64) - expected.to(F64)).abs().max())
        raise AssertionError(f"{label}: {what} has wrong values (max |difference| {diff:.3g})")


def _run(label: str, cases: Callable[[], None]) -> bool:
    try:
        n = cases()
    except _NotYet:
        print(f"{label}: not implemented yet (replace the NotImplementedError with your code)")
        return False
    print(f"{label}: correct on {n} random shapes")
    return True


def _rand(*shape) -> torch.Tensor:
    return torch.randn(*shape, dtype=F64, generator=_GEN)


_GEN = torch.Generator().manual_seed(1234)

#: non-square (N, D, M) so that a missing transpose cannot pass by accident
SHAPES = [(2, 3, 4), (5, 2, 3), (1, 4, 2), (3, 5, 1)]


def check_central_difference(fn: Callable[[Callable[[float], float], float, float], float]) -> bool:
    """Check ``fn(f, x, eps)`` approximates f'(x) by central differences (chapter 1)."""
    label = "ex-scalar-central-difference"

    def cases():
        funcs = [(math.sin, math.cos), (math.exp, math.exp), (lambda t: t**3, lambda t: 3 * t**2)]
        for f, df in funcs:
            for x in (0.3, -1.2, 2.0):
                got = _call(label, fn, f, x, 1e-5)
                if got is None:
                    raise AssertionError(f"{label}: returned None; did you forget to return?")
                if abs(float(got) - df(x)) > 1e-8 * max(1.0, abs(df(x))):
                    raise AssertionError(
                        f"{label}: at x={x} got {float(got):.10g}, expected {df(x):.10g}"
                    )
        return 9

    return _run(label, cases)


def check_softmax_cross_entropy_vjp(fn: Callable) -> bool:
    """Check ``fn(logits, labels)`` against :func:`helpers.softmax_cross_entropy_vjp` (chapter 2)."""
    label = "ex-gradient-softmax-ce"

    def cases():
        for N, C, _ in SHAPES:
            logits = _rand(N, C + 1)
            labels = torch.randint(0, C + 1, (N,), generator=_GEN)
            _close(label, "dL/dlogits", _call(label, fn, logits, labels),
                   softmax_cross_entropy_vjp(logits, labels))
        return len(SHAPES)

    return _run(label, cases)


def check_jacobian(fn: Callable) -> bool:
    """Check a Jacobian builder ``fn(f, x)`` against :func:`helpers.jacobian` (chapter 3)."""
    label = "ex-jacobian-builder"

    def cases():
        for N, D, M in SHAPES:
            A = _rand(M, D)
            x = _rand(D)
            f = lambda v, A=A: torch.tanh(A @ v)  # noqa: E731
            _close(label, "the Jacobian", _call(label, fn, f, x), jacobian(f, x))
        return len(SHAPES)

    return _run(label, cases)


def check_contract(fn: Callable) -> bool:
    """Check ``fn(G, J)`` against :func:`helpers.contract` (chapter 4)."""
    label = "ex-generalized-contract"

    def cases():
        for N, D, M in SHAPES:
            G = _rand(N, M)
            J = _rand(N, M, N, D)
            _close(label, "the contraction", _call(label, fn, G, J), contract(G, J))
        return len(SHAPES)

    return _run(label, cases)


def check_linear_vjp(fn: Callable) -> bool:
    """Check ``fn(G, X, W) -> (dX, dW, db)`` against :func:`helpers.linear_vjp` (chapter 5)."""
    label = "ex-linear-vjp"

    def cases():
        for N, D, M in SHAPES:
            X, W, G = _rand(N, D), _rand(D, M), _rand(N, M)
            got = _call(label, fn, G, X, W)
            if not isinstance(got, tuple) or len(got) != 3:
                raise AssertionError(f"{label}: return a tuple (dX, dW, db), got {type(got).__name__}")
            for what, g, e in zip(("dX", "dW", "db"), got, linear_vjp(G, X, W)):
                _close(label, what, g, e)
        return len(SHAPES)

    return _run(label, cases)


def check_nn_linear_vjp(fn: Callable) -> bool:
    """Check ``fn(G, X, weight)`` against :func:`helpers.nn_linear_vjp` (chapter 5)."""
    label = "ex-linear-nn-vjp"

    def cases():
        for N, D, M in SHAPES:
            X, weight, G = _rand(N, D), _rand(M, D), _rand(N, M)
            got = _call(label, fn, G, X, weight)
            if not isinstance(got, tuple) or len(got) != 3:
                raise AssertionError(
                    f"{label}: return a tuple (dX, dweight, dbias), got {type(got).__name__}")
            for what, g, e in zip(("dX", "dweight", "dbias"), got, nn_linear_vjp(G, X, weight)):
                _close(label, what, g, e)
        return len(SHAPES)

    return _run(label, cases)


def check_relu_vjp(fn: Callable) -> bool:
    """Check ``fn(G, Z)`` against :func:`helpers.relu_vjp` (chapter 7)."""
    label = "ex-mlp-relu-vjp"

    def cases():
        for N, D, M in SHAPES:
            Z, G = _rand(N, M), _rand(N, M)
            _close(label, "dL/dZ", _call(label, fn, G, Z), relu_vjp(G, Z))
        return len(SHAPES)

    return _run(label, cases)


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
