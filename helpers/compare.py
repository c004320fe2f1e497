"""A friendly comparison printout that also asserts (used in every chapter).

``compare("dX", dX, J_X_contracted)`` prints one line such as
``dX          close   max|diff| 2.2e-16`` and then calls
:func:`torch.testing.assert_close`, so the chapter both shows and checks.
"""

from __future__ import annotations

import torch

from .shapes import as_tensor, fmt_shape

__all__ = ["compare"]


def compare(name: str, got: torch.Tensor, expected: torch.Tensor, *,
            rtol: float | None = None, atol: float | None = None) -> float:
    """Print how close two tensors are, then assert they are close.

    Parameters
    ----------
    name : str
        Label printed at the start of the line.
    got, expected : torch.Tensor
        Two independently computed tensors of the same shape. Their dtypes may
        differ (float32 vs float64); both are compared in float64.
    rtol, atol : float, optional
        Passed to :func:`torch.testing.assert_close`; by default the float64
        tolerances (1e-7, 1e-7), or float32's (1.3e-6, 1e-5) if either input is float32.

    Returns
    -------
    float
        The largest absolute difference.

    Raises
    ------
    ValueError
        If the shapes differ.
    AssertionError
        If the values are not close.
    """
    as_tensor("compare", "got", got)
    as_tensor("compare", "expected", expected)
    if tuple(got.shape) != tuple(expected.shape):
        raise ValueError(
            f"compare({name!r}): got has shape {fmt_shape(got.shape)}, "
            f"expected {fmt_shape(expected.shape)}"
        )
    single = torch.float32 in (got.dtype, expected.dtype)
    if rtol is None and atol is None:
        rtol, atol = (1.3e-6, 1e-5) if single else (1e-7, 1e-7)
    a = got.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    diff = float((a - e).abs().max()) if a.numel() else 0.0
    if torch.equal(a, e):
        verdict = "exact"
    elif torch.allclose(a, e, rtol=rtol, atol=atol):
        verdict = "close"
    else:
        verdict = "WRONG"
    print(f"{name:<28} {verdict:<6} max|diff| {diff:.1e}")
    torch.testing.assert_close(a, e, rtol=rtol, atol=atol, msg=lambda m: f"{name}: {m}")
    return diff
