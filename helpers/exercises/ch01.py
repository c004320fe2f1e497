"""Chapter 1's code exercise: the central difference (:ref:`sec-scalar-fd`).

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

__all__ = ["check_central_difference"]


CD_EPS = 1e-5
CD_POINTS = (0.3, -1.2, 2.0)
_CD_DERIVATIVES = {"sin": math.cos, "exp": math.exp, "cube": lambda t: 3 * t ** 2}


def _cases_central_difference(seed: int) -> list:
    """Three functions (named, rebuilt by the harness) at three points each.

    The points are fixed for the self-check (seed 1) and moved by a random offset in
    [-0.25, 0.25] for any other seed (the grader's).
    """
    shift = 0.0 if seed == 1 else float(torch.rand(1, generator=generator(seed), dtype=F64)) / 2 - 0.25
    return [case({"f": {"fn": name}, "x": x + shift, "eps": CD_EPS},
                  f"f = {name}, x = {x + shift:.6g}, eps = {CD_EPS}")
            for name in ("sin", "exp", "cube") for x in CD_POINTS]


def _judge_central_difference(case: dict, got) -> None:
    label = "ex-scalar-central-difference"
    f, x, eps = build(case["inputs"]["f"]), case["inputs"]["x"], case["inputs"]["eps"]
    if got is None:
        raise AssertionError(f"{label}: your function returned None: did you forget to "
                             f"`return` the derivative?")
    if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_complex():
        got = float(got)
    if not isinstance(got, float):
        raise AssertionError(f"{label}: return a number, got {tname(got)}")
    exact = _CD_DERIVATIVES[case["inputs"]["f"]["fn"]](x)
    if not math.isfinite(got):
        raise AssertionError(f"{label}: at x = {x:.6g} you returned {got}")
    if abs(got - exact) <= 1e-8 * max(1.0, abs(exact)):
        return
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
            raise AssertionError(f"{label}: at x = {x:.6g} you returned {got:.10g}, "
                                 f"expected {exact:.10g}: {why}")
    raise AssertionError(f"{label}: at x = {x:.6g} you returned {got:.10g}, "
                         f"expected {exact:.10g}")


check_central_difference = register(
    Exercise("ex-scalar-central-difference", "my_central_difference", "01_scalar_derivative",
             "check_central_difference", ("f", "x", "eps"), _cases_central_difference,
             _judge_central_difference, "9 points (sin, exp, cube at three x each)", seed=1,
             policy=Policy(modules=("math",), allow=(), finite_differences=True, text="plain Python floats: no torch, no helpers")),
    doc="""\
Check ``fn(f, x, eps)`` approximates f'(x) by central differences (chapter 1).

The reference is the exact derivative of sin, exp and the cube at three points, with
``eps = 1e-5``; central differences are accurate to about 1e-10 there. Recognises:
forward or backward differences, a missing 2 in ``2 * eps``, a flipped sign, ``None``,
NaN/inf, an exception.
""")
