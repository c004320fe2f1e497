"""Chapter 2's code exercise: the gradients of a small graph with a fork and a max.

The cases are pure data, the judge raises ``AssertionError`` naming the mistake, and
:func:`helpers.exercises.core.register` declares each exercise once (see :mod:`helpers.exercises`).
"""

from __future__ import annotations

import torch

from .core import Exercise, Policy, case, close, generator, rand, register, shapes, unpack

__all__ = ["check_gate_graph_backward"]

#: the smallest |c - y| a case allows, so that no entry sits near the max's kink
GAP = 0.1


def gate_graph_forward(x: torch.Tensor, y: torch.Tensor) -> dict:
    """The graph of ``ex-gradient-gate-graph``, entry by entry (chapter 2).

    ``a = x * y``, ``c = a + x``, ``m = maximum(c, y)``.

    Parameters
    ----------
    x, y : torch.Tensor
        Any shape ``S``, the same for both.

    Returns
    -------
    dict
        ``a``, ``c``, ``m``, each of shape ``S``.
    """
    a = x * y
    c = a + x
    return {"a": a, "c": c, "m": torch.maximum(c, y)}


def _cases_gate_graph(seed: int) -> list:
    gen = generator(seed)
    out = []
    for shape in [(3,), (5,), (2,), (4, 3), (1,)]:
        x, y = rand(gen, *shape), rand(gen, *shape)
        while True:  # no near-ties at the max, and (from 2 entries) both branches of the max
            c = x * y + x
            near = (c - y).abs() < GAP
            wins = c > y
            both = x.numel() < 2 or (bool(wins.any()) and bool((~wins).any()))
            if not near.any() and both:
                break
            y = torch.where(near, rand(gen, *shape), y) if near.any() else rand(gen, *shape)
        g = rand(gen, *shape)
        out.append(case({"x": x, "y": y, "g": g}, shapes(x=x, y=y, g=g)))
    return out


def _judge_gate_graph(case: dict, got) -> None:
    label = "ex-gradient-gate-graph"
    x, y, g = (case["inputs"][k] for k in ("x", "y", "g"))
    c = gate_graph_forward(x, y)["c"]
    to_c = (c > y).to(x.dtype)            # max routes g to c where c wins ...
    to_y = 1.0 - to_c                     # ... and to y elsewhere (no ties in the cases)
    dc = g * to_c                         # dL/dc, which add distributes to a and to x
    expected = (dc * y + dc, dc * x + g * to_y)
    got = unpack(label, got, ("dx", "dy"), expected)
    smaller = g * to_y                    # max routed to the smaller input instead
    x_variants = [
        ("x fans out, so add the contributions of both its uses: you kept only the "
         "multiply's, dL/dc * y; the add passes dL/dc to x as well", dc * y),
        ("x fans out, so add the contributions of both its uses: you kept only the "
         "add's, dL/dc; the multiply passes dL/dc * y to x as well", dc),
        ("multiply swaps: x gets dL/da times the other input, y, not times x itself",
         dc * x + dc),
        ("max routes: all of g goes to the larger input (c where c > y), "
         "you sent it to the smaller one", smaller * y + smaller),
        ("max routes: g reaches c only where c > y (0 elsewhere); you passed g through "
         "everywhere, as an add would", g * y + g),
    ]
    y_variants = [
        ("y fans out, so add the contributions of both its uses: you kept only the "
         "multiply's, dL/dc * x; the max gives y the upstream g where y > c", dc * x),
        ("y fans out, so add the contributions of both its uses: you kept only the "
         "max's; the multiply gives y dL/dc * x as well", g * to_y),
        ("multiply swaps: y gets dL/da times the other input, x, not times y itself",
         dc * y + g * to_y),
        ("max routes: all of g goes to the larger input (y where y > c), "
         "you sent it to the smaller one", smaller * x + g * to_c),
        ("max routes: each entry of g goes to one input only, c or y, whichever is "
         "larger; you passed g to both", g * x + g),
    ]
    close(label, "dx", got[0], expected[0], variants=x_variants)
    close(label, "dy", got[1], expected[1], variants=y_variants)


check_gate_graph_backward = register(
    Exercise("ex-gradient-gate-graph", "my_gate_graph_backward", "02_gradient",
             "check_gate_graph_backward", ("x", "y", "g"), _cases_gate_graph,
             _judge_gate_graph, "5 random shapes, one of them 2-D and one of a single entry",
             seed=2, policy=Policy(allow=("@tensor",))),
    doc="""\
Check ``fn(x, y, g) -> (dx, dy)``, the gradients of the graph of chapter 2's exercise.

The graph is ``a = x * y``, ``c = a + x``, ``m = maximum(c, y)`` entry by entry, with
upstream gradient ``g = dL/dm``; the reference is the hand derivation
``dx = g [c > y] (y + 1)``, ``dy = g [c > y] x + g [y > c]``, checked against autograd
and central differences in tests/test_checks.py. The cases keep every ``|c - y|`` at least
``GAP`` (no ties). Recognises: a fan-out contribution dropped (either use of x or y), the
multiply not swapped, the max routed to the smaller input or not routed at all, results in
the wrong order, a tuple of the wrong length, wrong shape, ``None``, NaN/inf, float32, an
exception.
""")
