"""Chapter 4's code exercise: contracting a generalized Jacobian with G.

The cases are pure data, the judge raises ``AssertionError`` naming the mistake, and
:func:`helpers.exercises.core.register` declares each exercise once (see :mod:`helpers.exercises`).
"""

from __future__ import annotations

import torch

from ..jacobians import contract
from .core import (
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

__all__ = ["check_contract"]


def _rank_note(r: int) -> str:
    return (f"G of rank {r}: contract must work for G of any rank (sum over the first "
            f"G.ndim dims of J, whatever G.ndim is)")


def _cases_contract(seed: int) -> list:
    gen = generator(seed)
    out = []
    for N, D, M in SHAPES:
        G, J = rand(gen, N, M), rand(gen, N, M, N, D)
        out.append(case({"G": G, "J": J}, shapes(G=G, J=J)))
    for out_shape, in_shape in [((), (3, 2)), ((4,), (3,)), ((2, 3, 4), (5, 2)),
                                ((3, 2), (4, 1, 2))]:
        G, J = rand(gen, *out_shape), rand(gen, *out_shape, *in_shape)
        out.append(case({"G": G, "J": J}, shapes(G=G, J=J),
                         "" if len(out_shape) == 2 else _rank_note(len(out_shape))))
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
    close("ex-generalized-contract", "the contraction", got, expected, variants=variants)


check_contract = register(
    Exercise("ex-generalized-contract", "my_contract", "04_generalized_jacobian",
             "check_contract", ("G", "J"), _cases_contract, _judge_contract,
             "8 random shapes, G of rank 0 to 3", seed=4,
             policy=Policy(allow=("@tensor",), forbidden=("einsum", "tensordot"),
                           text="your function may not call the book's helpers, einsum or "
                                "tensordot, torch.autograd, torch.func or .backward()"),
             reference="contract"),
    doc="""\
Check ``fn(G, J)`` against :func:`helpers.contract` (chapter 4).

``G`` has the output's shape ``(y)`` and ``J`` shape ``(y) + (x)``; the result has the input's
shape ``(x)`` (chapter 4's notation). Cases have G of rank 0 to 3. Recognises: a sum over
the input dims instead of the output dims, keeping only the "diagonal" terms, a flattened
result, a transpose, a fixed rank, wrong shape, ``None``, NaN/inf, float32, an exception.
""")
