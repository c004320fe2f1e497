"""compare's float64 tolerance must reject a VJP with relative error 1e-6 (issue 21 §2)."""
import pytest
import torch

from helpers import compare


def _vjp_pair(rel):
    g = torch.Generator().manual_seed(0)
    right = torch.randn(4, 3, dtype=torch.float64, generator=g)
    return right * (1 + rel), right


@pytest.mark.parametrize("rel", [1e-6, 3e-7])
def test_float64_rejects_relative_error_above_tolerance(rel):
    got, right = _vjp_pair(rel)
    with pytest.raises(AssertionError):
        compare("vjp off by rel", got, right)


def test_float64_accepts_relative_error_within_tolerance():
    got, right = _vjp_pair(1e-9)
    compare("vjp off by 1e-9", got, right)


@pytest.mark.parametrize("rel", [1e-6, 3e-7])
def test_finite_difference_tolerance_rejects_relative_error_above_it(rel):
    from helpers.compare import FD_TOL
    got, right = _vjp_pair(rel)
    with pytest.raises(AssertionError):
        compare("vjp off by rel vs central diff", got, right, **FD_TOL)


def test_finite_difference_tolerance_judges_structural_zeros_by_their_error():
    """An entry that should be 0 and is 1e-7 (far above a central difference's ~1e-10) fails."""
    from helpers.compare import FD_TOL
    expected = torch.zeros(3, dtype=torch.float64)
    compare("zeros within the difference's error", expected + 1e-10, expected, **FD_TOL)
    with pytest.raises(AssertionError):
        compare("a zero off by 1e-7", expected + 1e-7, expected, **FD_TOL)


def test_no_chapter_spells_its_own_finite_difference_tolerance():
    """One home for the tolerance: helpers.compare.FD_TOL (issue 22 review)."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    pages = sorted((root / "chapters").glob("*.ipynb")) + [root / "reference" / "notation.ipynb"]
    # an own definition under any case (FD_TOL =, fd_tol =, fd_tol = dict(...)) or the values typed out
    own = re.compile(r"\bfd_tol\s*=(?!=)|rtol\s*=\s*1e-7,\s*atol\s*=\s*1e-8", re.IGNORECASE)
    offenders = [p.name for p in pages if own.search(p.read_text())]
    assert offenders == [], f"define no FD tolerance of your own, import helpers.compare.FD_TOL: {offenders}"
