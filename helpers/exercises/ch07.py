"""Chapter 7's code exercise: the backward pass of a residual MLP with weight decay.

The network of ``ex-mlp-residual`` (see :func:`helpers.mlp.residual_mlp_forward`) has two
kinds of fan-out: the activation ``A1`` feeds both the second layer and the skip
``A2 = A1 + relu(Z2)``, and every weight feeds both its layer and the weight-decay penalty
``lam / 2 * |W|^2``. The judge walks the backward pass from the output down (``dW3``,
``db3``, then the second layer, then the first, then ``dX``), so the first wrong gradient
it meets names the step where the student's chain went wrong.

The cases are pure data, the judge raises ``AssertionError`` naming the mistake, and
:func:`helpers.exercises.core.register` declares each exercise once (see :mod:`helpers.exercises`).
"""

from __future__ import annotations

import torch

from ..mlp import residual_mlp_backward, residual_mlp_forward
from .core import (
    F64,
    N1,
    Exercise,
    Policy,
    case,
    close,
    generator,
    rand,
    register,
    shapes,
    unpack,
)

__all__ = ["check_residual_mlp_backward"]

LABEL = "ex-mlp-residual"
ARGS = ("dZ3", "X", "W1", "b1", "W2", "b2", "W3", "b3", "lam")
OUTPUTS = ("dX", "dW1", "db1", "dW2", "db2", "dW3", "db3")
C1 = "C = 1 (a single output)"


def _cases_residual(seed: int) -> list:
    gen = generator(seed)
    # (N, D, H, C, lam): within a case the sizes differ (except a size of 1), so that a
    # transpose of a non-square factor fails on shape; W2 is H x H, where only values can
    plan = [((4, 3, 5, 2, 0.1), ""), ((3, 5, 2, 4, 0.3), ""), ((5, 2, 3, 4, 0.05), ""),
            ((2, 4, 6, 3, 0.0), ""), ((1, 4, 3, 2, 0.2), N1), ((3, 2, 4, 1, 0.1), C1)]
    out = []
    for (N, D, H, C, lam), note in plan:
        for _ in range(1000):  # redraw until each ReLU both clips and passes, away from 0
            t = {"dZ3": rand(gen, N, C), "X": rand(gen, N, D), "W1": rand(gen, D, H),
                 "b1": rand(gen, H), "W2": rand(gen, H, H), "b2": rand(gen, H),
                 "W3": rand(gen, H, C), "b3": rand(gen, C)}
            f = residual_mlp_forward(*(t[k] for k in ARGS[1:-1]))
            if all((Z > 0).any() and (Z < 0).any() and Z.abs().min() > 1e-3
                   for Z in (f["Z1"], f["Z2"])):
                break
        else:  # pragma: no cover - with these sizes a few draws suffice
            raise RuntimeError(f"no case with mixed ReLU masks for sizes {(N, D, H, C)}")
        desc = shapes(**t) + f", lam = {lam}"
        out.append(case({**t, "lam": lam}, desc, note))
    return out


def _decay(name: str, base: torch.Tensor, W: torch.Tensor, lam: float) -> list:
    """Wrong weight-decay terms on top of the right data part ``base`` of dW."""
    if lam == 0:
        return []
    return [
        (f"the weight-decay term is missing: {name} feeds its layer and the penalty "
         f"lam/2 |{name}|^2, so its gradient is the sum (the layer's part) + lam * {name}",
         base),
        (f"the weight-decay term is doubled: the gradient of lam/2 |{name}|^2 is "
         f"lam * {name}, not 2 * lam * {name}", base + 2 * lam * W),
        (f"the weight-decay term is halved: the gradient of lam/2 |{name}|^2 is "
         f"lam * {name}, not lam/2 * {name}", base + lam / 2 * W),
        (f"the weight-decay term has the wrong sign: add lam * {name}, the penalty is "
         f"added to the loss", base - lam * W),
    ]


def _bias_decay(name: str, right: torch.Tensor, b: torch.Tensor, lam: float) -> list:
    if lam == 0:
        return []
    return [(f"{name} is decayed too: the penalty covers the weights only, so "
             f"{name}'s gradient has no lam * {name} term", right + lam * b)]


def _judge_residual(case, got):
    x = case["inputs"]
    dZ3, X, W1, b1, W2, b2, W3, b3, lam = (x[k] for k in ARGS)
    expected = residual_mlp_backward(dZ3, X, W1, b1, W2, b2, W3, b3, lam)
    got = unpack(LABEL, got, OUTPUTS, expected)
    f = residual_mlp_forward(X, W1, b1, W2, b2, W3, b3)
    Z1, A1, Z2, A2 = f["Z1"], f["A1"], f["Z2"], f["A2"]
    m1, m2 = (Z1 > 0).to(F64), (Z2 > 0).to(F64)
    dA2 = dZ3 @ W3.T
    dZ2 = dA2 * m2
    dA1 = dA2 + dZ2 @ W2.T
    N = X.shape[0]
    want = dict(zip(OUTPUTS, expected))
    mine = dict(zip(OUTPUTS, got))

    # the third layer: its input is A2, the sum
    third = [
        ("dW3 uses relu(Z2) as the third layer's input: that input is the sum "
         "A2 = A1 + relu(Z2)", torch.relu(Z2).T @ dZ3 + lam * W3),
        ("dW3 uses A1 as the third layer's input: that input is the sum "
         "A2 = A1 + relu(Z2)", A1.T @ dZ3 + lam * W3),
    ] + _decay("W3", A2.T @ dZ3, W3, lam)
    close(LABEL, "dW3", mine["dW3"], want["dW3"], variants=third, n=N)
    close(LABEL, "db3", mine["db3"], want["db3"],
          variants=_bias_decay("b3", want["db3"], b3, lam), n=N)

    # the second layer: the mask of the second ReLU comes from Z2
    dZ2_wrong = [
        ("the second ReLU's mask comes from its input Z2, not from A2 = A1 + relu(Z2)",
         dA2 * (A2 > 0).to(F64)),
        ("the second ReLU's mask comes from Z2, not from Z1 (the layers are met in "
         "reverse order)", dA2 * m1),
        ("the second ReLU's mask is missing: dZ2 = dA2 * (Z2 > 0)", dA2),
    ]
    second = [(m, A1.T @ v + lam * W2) for m, v in dZ2_wrong] + [
        ("dW2 is transposed: A1^T dZ2, not dZ2^T A1 (W2 is square, so the shape cannot "
         "tell; only the values do)", dZ2.T @ A1 + lam * W2),
        ("dW2 uses Z1 as the second layer's input: that input is A1 = relu(Z1)",
         Z1.T @ dZ2 + lam * W2),
        ("dW2 uses A2 as the second layer's input: A2 is its output (plus the skip); "
         "the input is A1", A2.T @ dZ2 + lam * W2),
    ] + _decay("W2", A1.T @ dZ2, W2, lam)
    close(LABEL, "dW2", mine["dW2"], want["dW2"], variants=second, n=N)
    close(LABEL, "db2", mine["db2"], want["db2"],
          variants=[(m, v.sum(0)) for m, v in dZ2_wrong]
          + _bias_decay("b2", want["db2"], b2, lam), n=N)

    # the first layer: A1 fans out, so dA1 is a sum; then the first ReLU's mask
    fanout = (" (gradients add where a value fans out: A1 feeds the second layer and the "
              "skip A2 = A1 + relu(Z2))")
    dA1_wrong = [
        ("the skip path is missing: dA1 = dZ2 W2^T + dA2, and you have only the first "
         "term" + fanout, dZ2 @ W2.T),
        ("only the skip path reached A1: dA1 = dZ2 W2^T + dA2, and you have only dA2 "
         "(did an assignment overwrite the first term?)" + fanout, dA2),
        ("the skip path bypasses the second ReLU: add dA2 itself to dZ2 W2^T, not "
         "dZ2 = dA2 * (Z2 > 0)", dZ2 + dZ2 @ W2.T),
        ("dZ2 W2 instead of dZ2 W2^T in dA1 (W2 is square, so the shape cannot tell; "
         "only the values do)", dA2 + dZ2 @ W2),
    ]
    dZ1_wrong = [(m, v * m1) for m, v in dA1_wrong] + [
        ("the first ReLU's mask must multiply the whole of dA1, after the two paths are "
         "added: dZ1 = (dZ2 W2^T + dA2) * (Z1 > 0)", (dZ2 @ W2.T) * m1 + dA2),
        ("the first ReLU's mask comes from Z1, not from Z2 (the layers are met in "
         "reverse order)", dA1 * m2),
        ("the first ReLU's mask is missing: dZ1 = dA1 * (Z1 > 0)", dA1),
    ]
    first = [(m, X.T @ v + lam * W1) for m, v in dZ1_wrong] + _decay(
        "W1", X.T @ (dA1 * m1), W1, lam)
    close(LABEL, "dW1", mine["dW1"], want["dW1"], variants=first, n=N)
    close(LABEL, "db1", mine["db1"], want["db1"],
          variants=[(m, v.sum(0)) for m, v in dZ1_wrong]
          + _bias_decay("b1", want["db1"], b1, lam), n=N)
    close(LABEL, "dX", mine["dX"], want["dX"],
          variants=[(m, v @ W1.T) for m, v in dZ1_wrong], n=N)


check_residual_mlp_backward = register(
    Exercise(LABEL, "my_residual_mlp_backward", "07_mlp", "check_residual_mlp_backward",
             ARGS, _cases_residual, _judge_residual,
             "6 random shapes (N, D, H, C) with lam from 0 to 0.3, N = 1 and C = 1",
             seed=7, policy=Policy(allow=("@tensor",)), reference="residual_mlp_backward"),
    doc="""\
Check ``fn(dZ3, X, W1, b1, W2, b2, W3, b3, lam)`` against
:func:`helpers.residual_mlp_backward` (chapter 7).

The result is the tuple ``(dX, dW1, db1, dW2, db2, dW3, db3)``, judged from the output
layer down. Recognises: the skip path missing from ``dA1``, only the skip path (an
assignment instead of a sum), the skip path sent through the second ReLU's mask, the
first mask applied before the sum, a mask from the wrong layer or from ``A2``, a missing
mask, ``dZ2 @ W2`` or ``dW2`` transposed (``W2`` is square: the values tell, not the
shape), the wrong input for a layer (``Z1``, ``A1`` or ``relu(Z2)`` for ``A2``), the
weight-decay term missing, doubled, halved or with the wrong sign, decayed biases; and the
general mistakes (wrong shape or order, ``None``, NaN/inf, float32, an exception).
""")
