"""Chapter 2's code exercise: the gradient of softmax cross-entropy.

The cases are pure data, the judge raises ``AssertionError`` naming the mistake, and
:func:`helpers.exercises.core.register` declares each exercise once (see :mod:`helpers.exercises`).
"""

from __future__ import annotations

import torch

from ..layers import softmax_cross_entropy_vjp
from .core import (
    N1,
    Exercise,
    Policy,
    case,
    close,
    generator,
    rand,
    register,
    shapes,
)

__all__ = ["check_softmax_cross_entropy_vjp"]


OVERFLOW = ("logits of +-1000: subtract each row's maximum before exponentiating "
            "(max subtraction), or exp overflows to inf")


def _cases_softmax(seed: int) -> list:
    gen = generator(seed)
    out = []
    for N, C in [(2, 3), (5, 4), (4, 2), (3, 5), (1, 4)]:
        logits = 3 * rand(gen, N, C)
        labels = torch.randint(0, C, (N,), generator=gen)
        out.append(case({"logits": logits, "labels": labels},
                         shapes(logits=logits, labels=labels), N1 if N == 1 else ""))
    N, C = 4, 3
    r = rand(gen, N, C)
    logits = 1000 * torch.sign(r) + r  # entries near +1000 and -1000
    labels = torch.randint(0, C, (N,), generator=gen)
    out.append(case({"logits": logits, "labels": labels},
                     shapes(logits=logits, labels=labels) + " (entries near +-1000)", OVERFLOW))
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
    close("ex-gradient-softmax-ce", "dL/dlogits", got, expected, variants=variants, n=N)


check_softmax_cross_entropy_vjp = register(
    Exercise("ex-gradient-softmax-ce", "my_softmax_cross_entropy_vjp", "02_gradient",
             "check_softmax_cross_entropy_vjp", ("logits", "labels"), _cases_softmax,
             _judge_softmax, "6 random (N, C) shapes, N = 1 and logits of +-1000", seed=2,
             policy=Policy(allow=("@tensor",), forbidden=("softmax", "log_softmax", "cross_entropy", "nll_loss",
                                      "softmin", "logsumexp"),
                           text="your function may not call the book's helpers, torch.softmax "
                                "(or log_softmax, cross_entropy), torch.autograd, torch.func "
                                "or .backward()"),
             reference="softmax_cross_entropy_vjp"),
    doc="""\
Check ``fn(logits, labels)`` against :func:`helpers.softmax_cross_entropy_vjp` (chapter 2).

Cases include N = 1 and logits of +-1000 (the result must be finite: subtract the
row maximum). Recognises: a missing 1/N, a flipped sign (``y - p``), softmax over the
wrong axis, forgetting to subtract the one-hot labels, a transpose, wrong shape,
``None``, NaN/inf (overflow), float32, an exception.
""")
