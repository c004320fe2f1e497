"""Chapter 3's code exercise: a Jacobian builder from VJPs.

The cases are pure data, the judge raises ``AssertionError`` naming the mistake, and
:func:`helpers.exercises.core.register` declares each exercise once (see :mod:`helpers.exercises`).
"""

from __future__ import annotations

from ..harness import build
from ..jacobians import jacobian
from .core import (
    Exercise,
    Policy,
    case,
    close,
    generator,
    rand,
    register,
)

__all__ = ["check_jacobian"]


def _cases_jacobian(seed: int) -> list:
    gen = generator(seed)
    out = []
    for D, M, note in [(3, 4, ""), (2, 3, ""), (3, 2, ""), (5, 1, "M = 1 (a single output)"),
                       (1, 3, "a single input (x of length 1)")]:
        A, x = rand(gen, M, D), rand(gen, D)
        out.append(case({"f": {"fn": "tanh_matvec", "A": A}, "x": x},
                         f"f(x) = tanh(B @ x): ({D},) -> ({M},) and x of shape ({D},)", note))
    return out


def _judge_jacobian(case: dict, got) -> None:
    f, x = build(case["inputs"]["f"]), case["inputs"]["x"]
    expected = jacobian(f, x)
    variants = [
        ("this is the gradient of f(x).sum() (the Jacobian's rows added up): build "
         "one row per output element, each from its own one-hot vector",
         expected.sum(dim=0)),
    ]
    close("ex-jacobian-builder", "the Jacobian", got, expected, variants=variants)


check_jacobian = register(
    Exercise("ex-jacobian-builder", "my_jacobian", "03_jacobian", "check_jacobian",
             ("f", "x"), _cases_jacobian, _judge_jacobian,
             "5 random functions from (D,) to (M,), with M = 1 and D = 1", seed=3,
             policy=Policy(autograd=True, allow=("@tensor", "autograd", "grad", "backward", "requires_grad_", "requires_grad"),
                           forbidden=("jacobian", "jacrev", "jacfwd", "vjp", "jvp", "hessian",
                                      "hvp", "vhp", "functional", "func", "vmap"),
                           text="build the Jacobian from torch.autograd.grad (or .backward) "
                                "VJPs; no helpers, no torch.autograd.functional, no torch.func"),
             reference="jacobian"),
    doc="""\
Check a Jacobian builder ``fn(f, x)`` against :func:`helpers.jacobian` (chapter 3).

``f(x) = tanh(B @ x)`` maps ``(D,)`` to ``(M,)`` with ``M != D`` (and M = 1, D = 1), so
the Jacobian is ``(M, D)``. Recognises: a transposed Jacobian, the gradient of
``f(x).sum()`` instead of one row per output, an approximation (finite differences),
float32, wrong shape, ``None``, NaN/inf, an exception.
""")
