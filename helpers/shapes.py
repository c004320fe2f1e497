"""Shape checks shared by every helper.

Every public helper validates its arguments with these functions, so that a
mismatch is reported as a ``ValueError`` naming the shape received and the shape
expected, instead of a broadcasting accident deep inside PyTorch.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["as_tensor", "check_ndim", "check_shape", "fmt_shape"]


def fmt_shape(shape: Sequence[int | None]) -> str:
    """Format a shape as ``(2, 3)``; ``None`` entries print as ``*`` (any size)."""
    parts = ["*" if s is None else str(int(s)) for s in shape]
    if len(parts) == 1:
        return f"({parts[0]},)"
    return "(" + ", ".join(parts) + ")"


def as_tensor(func: str, name: str, value) -> torch.Tensor:
    """Return ``value`` if it is a tensor, else raise ``TypeError`` naming it.

    Parameters
    ----------
    func, name : str
        The calling function and the argument's name, used in the message.
    value : object
        What the caller passed.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{func}: {name} must be a torch.Tensor, got {type(value).__name__}"
        )
    return value


def check_ndim(func: str, name: str, t: torch.Tensor, ndim: int, *, at_least: bool = False,
               meaning: str = "") -> None:
    """Raise ``ValueError`` unless ``t.ndim == ndim`` (or ``>= ndim`` with ``at_least``)."""
    as_tensor(func, name, t)
    ok = t.ndim >= ndim if at_least else t.ndim == ndim
    if not ok:
        want = f"at least {ndim}" if at_least else f"exactly {ndim}"
        extra = f" ({meaning})" if meaning else ""
        raise ValueError(
            f"{func}: {name} has shape {fmt_shape(t.shape)} ({t.ndim} dims), "
            f"expected {want} dims{extra}"
        )


def check_shape(func: str, name: str, t: torch.Tensor, expected: Sequence[int | None],
                meaning: str = "") -> None:
    """Raise ``ValueError`` unless ``t.shape`` matches ``expected``.

    Parameters
    ----------
    func, name : str
        The calling function and the argument's name, used in the message.
    t : torch.Tensor
        The tensor to check.
    expected : sequence of int or None
        The expected shape; ``None`` accepts any size in that position.
    meaning : str, optional
        How the expected shape was derived, e.g. ``"X.shape[:-1] + (M,)"``.
    """
    as_tensor(func, name, t)
    expected = tuple(expected)
    ok = t.ndim == len(expected) and all(
        e is None or int(s) == int(e) for s, e in zip(t.shape, expected)
    )
    if not ok:
        extra = f" = {meaning}" if meaning else ""
        raise ValueError(
            f"{func}: {name} has shape {fmt_shape(t.shape)}, "
            f"expected {fmt_shape(expected)}{extra}"
        )
