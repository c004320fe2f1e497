"""The derivation of compare's float64 tolerance, measured (issue 21 §2).

``helpers/compare.py`` derives ``FLOAT64_TOLERANCE`` from the worst-case error of a float64
product: an inner product of length k is off by at most gamma_k = k u / (1 - k u) times
sum |a_i b_i|, u = 2**-53, and a chain of L products by about L gamma_k. Here the error is
measured against exact rational arithmetic (floats are dyadic rationals; Python integers
multiply and add them exactly) at the explicit Jacobians' k = 5 and at the largest product
the book compares, chapter 3's row vector times four 256 x 256 matrices. Each measured error
must lie below its worst-case bound, and the bound below compare's rtol by a wide margin.
(That an error just above the tolerance is rejected is tests/test_tolerance.py's job.)
"""
from fractions import Fraction

import numpy as np
import pytest
import torch

from helpers import compare
from helpers.compare import FLOAT64_TOLERANCE

U = 2.0 ** -53                      # float64 unit roundoff
RTOL, ATOL = FLOAT64_TOLERANCE


def gamma(k: int) -> float:
    return k * U / (1 - k * U)


def _exact(t: torch.Tensor, shift: int) -> np.ndarray:
    """t * 2**shift as exact Python integers (object array); shift large enough for t."""
    out = np.empty(t.shape, dtype=object)
    for idx, v in np.ndenumerate(t.numpy()):
        p, q = float(v).as_integer_ratio()          # q is a power of two
        assert (2 ** shift) % q == 0, "shift too small for an exact integer"
        out[idx] = p * (2 ** shift // q)
    return out


def _to_float(num: np.ndarray, shift: int) -> torch.Tensor:
    """The integers num / 2**shift, each correctly rounded to float64."""
    vals = [float(Fraction(int(n), 2 ** shift)) for n in num.flat]
    return torch.tensor(vals, dtype=torch.float64).reshape(num.shape)


SHIFT = 80       # randn entries, scaled by 1/16 at most, are k * 2**-80 exactly (53-bit mantissas)


def _chain(k: int, L: int, rows: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(rows, k, dtype=torch.float64, generator=gen)
    Js = [torch.randn(k, k, dtype=torch.float64, generator=gen) / k ** 0.5 for _ in range(L)]
    return v, Js


@pytest.mark.parametrize("k, L, rows", [(5, 1, 4), (5, 2, 4), (256, 4, 1)],
                         ids=["explicit Jacobian k=5", "chain of 2, k=5", "ch03 chain, k=256, L=4"])
def test_float64_product_error_is_below_the_derived_bound(k, L, rows):
    v, Js = _chain(k, L, rows, seed=21)
    got = v
    for J in Js:                                   # left to right, as chapter 3's VJP chain
        got = got @ J
    num = _exact(v, SHIFT)
    abs_num, shift = np.abs(num), SHIFT
    for J in Js:                                   # exact: integers, no rounding anywhere
        J_int = _exact(J, SHIFT)
        num, abs_num, shift = num @ J_int, abs_num @ np.abs(J_int), shift + SHIFT
    exact, scale = _to_float(num, shift), _to_float(abs_num, shift)   # scale = |v||J_1|...|J_L|
    err = (got - exact).abs()
    bound = (1 + gamma(k)) ** L - 1                # ~ L k u: the worst case of the derivation
    # the rigorous form: relative to |v||J_1|...|J_L| (Higham's componentwise bound)
    componentwise = float((err / scale).max())
    # what compare thresholds (rtol |expected| + atol, rtol = atol): error over max(|entry|, 1)
    per_entry = float((err / exact.abs().clamp(min=1.0)).max())
    print(f"k={k} L={L}: componentwise {componentwise:.1e}, per entry {per_entry:.1e}, "
          f"worst case {bound:.1e}, typical sqrt(k) L u {k ** 0.5 * L * U:.1e}")
    assert componentwise <= bound
    assert per_entry <= bound                      # true at these sizes, as the comment says
    assert bound < RTOL * 1e-5 and bound < ATOL * 1e-5   # the tolerance is far above it
    compare(f"float64 product vs exact, k={k}", got, exact)


def test_the_bound_matches_the_comment():
    """The comment states the book's worst case, 4 * 256 * u, as about 1.1e-13."""
    assert 1.0e-13 < (1 + gamma(256)) ** 4 - 1 < 1.2e-13
