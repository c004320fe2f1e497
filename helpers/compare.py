"""A friendly comparison printout that also asserts (used in every chapter).

``compare("dX", dX, J_X_contracted)`` prints one line such as
``dX          close   max|diff| 2.2e-16`` and then calls
:func:`torch.testing.assert_close`, so the chapter both shows and checks.

A *failure demo* (a wrong formula shown being rejected) is written
``expect_wrong("dX: X^T G", X.T @ G, dX_autograd)`` or, around any check,
``with rejects("wrong rule"): ...``: both print the rejection and raise
:class:`FailureDemoPassed` if nothing was rejected, so a demo that stops failing
fails the chapter. No chapter relies on nbval's ``raises-exception`` tag.
"""

from __future__ import annotations

import torch

from .shapes import as_tensor, fmt_shape

__all__ = ["FailureDemoPassed", "compare", "expect_wrong", "rejects"]


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


class FailureDemoPassed(AssertionError):
    """A failure demo's wrong formula was accepted: the demo (or the check) is broken."""


class rejects:
    """Context manager for a failure demo: the block must be rejected by a check.

    ``with rejects("u'v' for (uv)'"): compare(...)`` runs the block; if it raises one
    of ``errors`` (by default ``AssertionError`` from :func:`compare` or
    ``ValueError`` from a shape check), the diagnosis is printed and the error is
    swallowed, because the rejection is what the demo teaches. If the block finishes
    without raising, :class:`FailureDemoPassed` is raised: a wrong formula that stops
    failing (or a check that stopped checking) makes the chapter, and ``make test``,
    fail.

    Parameters
    ----------
    name : str
        What the wrong formula is, printed with the outcome.
    errors : exception type or tuple of types
        The errors that count as a rejection.
    match : str, optional
        A substring the error's message must contain (e.g. ``"shape"``), so that a demo
        rejected for another reason than the one the prose gives fails too.
    """

    def __init__(self, name: str, errors=(AssertionError, ValueError), *,
                 match: str | None = None):
        self.name = name
        self.errors = errors if isinstance(errors, tuple) else (errors,)
        self.match = match
        self.message: str | None = None

    def __enter__(self) -> "rejects":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            raise FailureDemoPassed(
                f"{self.name}: the wrong formula was accepted -- this failure demo no longer "
                f"fails (was the formula corrected, or is the check disabled?)")
        if isinstance(exc, FailureDemoPassed) or not issubclass(exc_type, self.errors):
            return False  # an unexpected error propagates unchanged
        text = str(exc).strip()
        if self.match is not None and self.match not in text:
            raise FailureDemoPassed(
                f"{self.name}: rejected, but not for the expected reason "
                f"(message lacks {self.match!r}): {text.splitlines()[0] if text else ''}")
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), exc_type.__name__)
        self.message = text
        print(f"  -> rejected, as it should be ({exc_type.__name__}): {first}")
        return True


def expect_wrong(name: str, got: torch.Tensor, expected: torch.Tensor, *,
                 match: str | None = None, **tolerances) -> str:
    """Show that :func:`compare` rejects a wrong formula, and fail if it does not.

    Parameters
    ----------
    name : str
        Label of the comparison, as for :func:`compare`.
    got : torch.Tensor
        The value of the wrong formula.
    expected : torch.Tensor
        An independently computed right value.
    match : str, optional
        A substring the rejection message must contain.
    **tolerances
        ``rtol`` and ``atol``, passed to :func:`compare`.

    Returns
    -------
    str
        The rejection message (the diagnosis the reader sees).

    Raises
    ------
    FailureDemoPassed
        If ``compare`` accepts ``got``.
    """
    with rejects(name, match=match) as demo:
        compare(name, got, expected, **tolerances)
    return demo.message or ""
