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

__all__ = ["FD_TOL", "FLOAT64_TOLERANCE", "FailureDemoPassed", "compare", "expect_wrong", "rejects"]

# Why the float64 default is rtol = atol = 1e-7 (issue 21 §2; measured in
# tests/test_ch04_tolerance_derivation.py; tests/test_tolerance.py checks that an error of
# 3e-7 is rejected).
#
# - float64 rounds every operation with relative error at most the unit roundoff
#   u = 2**-53 ~ 1.1e-16.
# - An inner product of length k (one entry of a matrix product or of a VJP contraction),
#   summed in any order, is off by at most gamma_k = k u / (1 - k u) ~ k u times
#   sum_i |a_i b_i| (Higham, Accuracy and Stability of Numerical Algorithms, sec. 3.1).
#   That is the worst case; errors of random sign typically add up to about sqrt(k) u.
#   A chain of L products compounds it to about L k u.
# - The book's compared products have k <= 5 in the explicit Jacobians (chapters 2-5), and
#   k <= 256 in the largest (chapter 3's chain of four 256 x 256 products, its cost section): the
#   worst case is 4 * 256 * u ~ 1.1e-13 relative to sum |a_i b_i|. Where an entry is small
#   by cancellation, atol covers it: its absolute error is the same ~1e-13 times the size
#   of the terms, which is about 1 in the book.
# - The central differences that referee many checks (numerical_jacobian, step h = 1e-6)
#   are off by about u |f| / h ~ 1e-10 (round-off) plus h**2 |f'''| / 6 ~ 1e-13 (truncation).
# - So 1e-7 sits about 1e3 above the referees' error and 1e6 above the products' worst case,
#   while a wrong formula (a missing transpose, a dropped term, a wrong sign) changes the
#   result by O(1) relative, about 1e7 times the tolerance.
#: compare's default (rtol, atol) in float64; the derivation is the comment above.
FLOAT64_TOLERANCE = (1e-7, 1e-7)

#: The book's one tolerance for a comparison whose referee is a float64 central difference
#: with step h = 1e-6 (``compare(..., **FD_TOL)``): rtol 1e-7 as above; atol 1e-8, a hundred
#: times the difference's absolute error u |f| / h ~ 1e-10 for |f| of order 1, so an entry
#: that is zero by structure (a Jacobian's zeros) is judged by that error and not by 1e-7.
FD_TOL = {"rtol": 1e-7, "atol": 1e-8}


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
        tolerances ``FLOAT64_TOLERANCE`` = (1e-7, 1e-7), derived where it
        is defined, or float32's (1.3e-6, 1e-5) if either input is float32.

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
        rtol, atol = (1.3e-6, 1e-5) if single else FLOAT64_TOLERANCE
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
