"""Chapter 1's code exercise: a fourth-order difference from two central ones (:ref:`sec-scalar-fd`).

The cases are pure data, the judge raises ``AssertionError`` naming the mistake, and
:func:`helpers.exercises.core.register` declares each exercise once (see :mod:`helpers.exercises`).
"""

from __future__ import annotations

import math

import torch

from ..harness import build
from .core import (
    F64,
    Exercise,
    Policy,
    case,
    generator,
    register,
    tname,
)
__all__ = ["check_richardson_difference"]


RICH_H = 1e-3
RICH_POINTS = (0.3, -1.2, 2.0)
_DERIVATIVES = {"sin": math.cos, "exp": math.exp, "cube": lambda t: 3 * t ** 2}
#: the accepted error, relative to max(1, |f'(x)|): the combination's truncation error at
#: h = 1e-3 is h^4 |f^(5)| / 30 < 4e-13 on these cases and its round-off about
#: 1.5 u |f| / h < 2e-12, while a plain central difference is off by h^2 |f'''| / 6 > 1e-8
RICH_TOL = 1e-9


def _cases_richardson(seed: int) -> list:
    """Three functions (named, rebuilt by the harness) at three points each.

    The points are fixed for the self-check (seed 1) and moved by a random offset in
    [-0.25, 0.25] for any other seed (the grader's).
    """
    shift = 0.0 if seed == 1 else float(torch.rand(1, generator=generator(seed), dtype=F64)) / 2 - 0.25
    return [case({"f": {"fn": name}, "x": x + shift, "h": RICH_H},
                  f"f = {name}, x = {x + shift:.6g}, h = {RICH_H}")
            for name in ("sin", "exp", "cube") for x in RICH_POINTS]


def _judge_richardson(case: dict, got) -> None:
    label = "ex-scalar-richardson"
    f, x, h = build(case["inputs"]["f"]), case["inputs"]["x"], case["inputs"]["h"]
    if got is None:
        raise AssertionError(f"{label}: your function returned None: did you forget to "
                             f"`return` the derivative?")
    if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_complex():
        got = float(got)
    if not isinstance(got, float):
        raise AssertionError(f"{label}: return a number, got {tname(got)}")
    exact = _DERIVATIVES[case["inputs"]["f"]["fn"]](x)
    if not math.isfinite(got):
        raise AssertionError(f"{label}: at x = {x:.6g} you returned {got}")
    scale = max(1.0, abs(exact))
    if abs(got - exact) <= RICH_TOL * scale:
        return

    def D(step):
        return (f(x + step) - f(x - step)) / (2 * step)

    combination = (4 * D(h) - D(2 * h)) / 3
    wrong = {
        "a plain central difference D(h): its truncation error h^2 f'''/6 is what the "
        "combination must cancel (combine D(h) with D(2h))": D(h),
        "a plain central difference D(2h): combine it with D(h) so that the h^2 terms "
        "cancel": D(2 * h),
        "4 D(h) - D(2h) is 3 f'(x) to order h^4: divide by 3 = 4 - 1": 3 * combination,
        "the weights are swapped: the h^2 term of D(2h) is 4 times that of D(h), so take "
        "(4 D(h) - D(2h)) / 3": (4 * D(2 * h) - D(h)) / 3,
        "the average of D(h) and D(2h) does not cancel the h^2 terms: take "
        "(4 D(h) - D(2h)) / 3": (D(h) + D(2 * h)) / 2,
        "2 D(h) - D(2h) cancels an error linear in h (a forward difference's); a central "
        "difference's error is quadratic in h: take (4 D(h) - D(2h)) / 3": 2 * D(h) - D(2 * h),
        "a forward difference (f(x + h) - f(x)) / h: start from central differences":
            (f(x + h) - f(x)) / h,
        "the sign is flipped": -combination,
    }
    for why, value in wrong.items():
        if abs(got - value) <= 1e-12 * scale:
            raise AssertionError(f"{label}: at x = {x:.6g} you returned {got:.12g}, "
                                 f"expected {exact:.12g}: {why}")
    raise AssertionError(f"{label}: at x = {x:.6g} you returned {got:.12g}, "
                         f"expected {exact:.12g} (off by {abs(got - exact):.2g}; the "
                         f"combination should be good to {RICH_TOL:g})")


check_richardson_difference = register(
    Exercise("ex-scalar-richardson", "my_richardson_difference", "01_scalar_derivative",
             "check_richardson_difference", ("f", "x", "h"), _cases_richardson,
             _judge_richardson, "9 points (sin, exp, cube at three x each), h = 1e-3", seed=1,
             policy=Policy(modules=("math",), allow=(), finite_differences=True,
                           text="plain Python floats: no torch, no helpers")),
    doc="""\
Check ``fn(f, x, h)`` approximates f'(x) to fourth order from D(h) and D(2h) (chapter 1).

D(h) is the central difference. The reference is the exact derivative of sin, exp and the
cube at three points, with ``h = 1e-3``: the combination (4 D(h) - D(2h)) / 3 is good to
about 1e-12 there, a plain central difference only to about 1e-7. Recognises: D(h) or
D(2h) alone, a missing division by 3, swapped weights, an average, the weights for a
forward difference's error, a forward difference, a flipped sign, ``None``, NaN/inf,
an exception.
""")
