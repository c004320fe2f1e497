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
