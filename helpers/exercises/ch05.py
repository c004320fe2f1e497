"""Chapter 5's code exercises: the linear layer's VJP, in the book's and in PyTorch's layout.

The cases are pure data, the judge raises ``AssertionError`` naming the mistake, and
:func:`helpers.exercises.core.register` declares each exercise once (see :mod:`helpers.exercises`).
"""

from __future__ import annotations

from typing import Callable

import torch

from ..layers import linear_vjp, nn_linear_vjp
from ..shapes import fmt_shape
from .core import (
    M1,
    N1,
    SHAPES,
    Exercise,
    Policy,
    Variant,
    case,
    close,
    generator,
    rand,
    register,
    shapes,
    unpack,
)

__all__ = ["check_linear_vjp", "check_nn_linear_vjp"]


#: tensor operations per call of a linear-layer VJP (measured: the book's solution and
#: the honest styles of tests/test_grade.py run 16 to 39, the grader's own preparation of
#: the inputs included; a difference quotient per entry of X and W, exact for a linear
#: map, runs 190 to 900 on the same cases)
OP_BUDGET = 120

def _leading_note(lead: tuple) -> str:
    what = "no leading dim, X of shape (D,)" if not lead else f"leading dims {fmt_shape(lead)}"
    return (f"leading dimensions ({what}): X may have shape (*, D), any number of leading "
            f"dims; flatten them, e.g. X.reshape(-1, D), and give dX the shape of X")


def _cases_linear(seed: int, weight_shape: Callable, wname: str) -> list:
    gen = generator(seed)
    out = []
    plan = [((N,), D, M, "") for N, D, M in SHAPES]
    plan[-1] = (plan[-1][0], plan[-1][1], plan[-1][2], M1)  # (3, 5, 1)
    plan += [((1,), 4, 3, N1), ((2, 3), 4, 5, _leading_note((2, 3))),
             ((3, 1, 2), 2, 3, _leading_note((3, 1, 2))), ((), 3, 2, _leading_note(()))]
    for lead, D, M, note in plan:
        X, weight, G = rand(gen, *lead, D), rand(gen, *weight_shape(D, M)), rand(gen, *lead, M)
        out.append(case({"G": G, "X": X, wname: weight},
                         shapes(**{"G": G, "X": X, wname: weight}), note))
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
    got = unpack(label, got, outputs, expected)
    n = G.reshape(-1, G.shape[-1]).shape[0]
    for what, g, e, v in zip(outputs, got, expected, ([], [], _linear_variants(G))):
        close(label, what, g, e, variants=v, n=n)


def _judge_linear(case, got):
    _judge_linear_family("ex-linear-vjp", case, got, reference=linear_vjp, wname="W",
                         outputs=("dX", "dW", "db"))


def _judge_nn_linear(case, got):
    _judge_linear_family("ex-linear-nn-vjp", case, got, reference=nn_linear_vjp,
                         wname="weight", outputs=("dX", "dweight", "dbias"))


check_linear_vjp = register(
    Exercise("ex-linear-vjp", "my_linear_vjp", "05_linear_layer", "check_linear_vjp",
             ("G", "X", "W"), lambda s: _cases_linear(s, lambda D, M: (D, M), "W"),
             _judge_linear, "8 random shapes (N, D, M), N = 1, M = 1 and leading dims (*, D)",
             seed=5, policy=Policy(allow=("@tensor",), op_budget=OP_BUDGET),
             reference="linear_vjp"),
    doc="""\
Check ``fn(G, X, W) -> (dX, dW, db)`` against :func:`helpers.linear_vjp` (chapter 5).

X has shape ``(*, D)``: cases include N = 1, M = 1, two and three leading dims and none.
Recognises: a missing or extra transpose in ``dX`` or ``dW``, ``db`` summed over the
wrong axis (or over all axes, or not at all), a missing or extra 1/N, a flipped sign,
results in the wrong order, a tuple of the wrong length, wrong shape, ``None``,
NaN/inf, float32, an exception (e.g. a shape mismatch inside ``fn``).
""")


check_nn_linear_vjp = register(
    Exercise("ex-linear-nn-vjp", "my_nn_linear_vjp", "05_linear_layer", "check_nn_linear_vjp",
             ("G", "X", "weight"), lambda s: _cases_linear(s, lambda D, M: (M, D), "weight"),
             _judge_nn_linear, "8 random shapes (N, D, M), N = 1, M = 1 and leading dims (*, D)",
             seed=6, policy=Policy(allow=("@tensor",), op_budget=OP_BUDGET),
             reference="nn_linear_vjp"),
    doc="""\
Check ``fn(G, X, weight)`` against :func:`helpers.nn_linear_vjp` (chapter 5).

``weight`` is PyTorch's ``(M, D)``. Recognises the same mistakes as
:func:`check_linear_vjp`, in particular ``dweight`` in the book's ``(D, M)`` layout.
""")
