"""Chapter 7's code exercise: the VJP of ReLU.

The cases are pure data, the judge raises ``AssertionError`` naming the mistake, and
:func:`helpers.exercises.core.register` declares each exercise once (see :mod:`helpers.exercises`).
"""

from __future__ import annotations

import torch

from ..layers import relu_vjp
from .core import (
    F64,
    N1,
    SHAPES,
    Exercise,
    Policy,
    case,
    close,
    generator,
    rand,
    register,
    shapes,
)

__all__ = ["check_relu_vjp"]


def _cases_relu(seed: int) -> list:
    gen = generator(seed)
    out = []
    plan = [((N, M), "") for N, _, M in SHAPES] + [
        ((1, 5), N1), ((2, 3, 4), "Z of any shape (here 3-D)"), ((5,), "Z of any shape (here 1-D)")]
    for shape, note in plan:
        Z, G = rand(gen, *shape), rand(gen, *shape)
        Z.view(-1)[::3] = 0.0  # exact zeros: ReLU's derivative there is taken as 0
        out.append(case({"G": G, "Z": Z}, shapes(G=G, Z=Z), note))
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
    close("ex-mlp-relu-vjp", "dL/dZ", got, expected, variants=variants,
           n=G.shape[0] if G.ndim else None)


check_relu_vjp = register(
    Exercise("ex-mlp-relu-vjp", "my_relu_vjp", "07_mlp", "check_relu_vjp", ("G", "Z"),
             _cases_relu, _judge_relu,
             "7 random shapes (with exact zeros in Z), N = 1, 1-D and 3-D", seed=7,
             policy=Policy(), reference="relu_vjp"),
    doc="""\
Check ``fn(G, Z)`` against :func:`helpers.relu_vjp` (chapter 7).

``Z`` has any shape and contains exact zeros, where the derivative is taken as 0.
Recognises: the mask ``Z >= 0``, the mask alone, ``G * relu(Z)``, a mask from ``G``,
an inverted mask, ``G`` unchanged, wrong shape, ``None``, NaN/inf, float32, an exception.
""")
