"""Chapter 8's checkers: the right solution passes, the stub is "not implemented yet",
and each wrong solution of tests/catalogue_more.py gets the diagnosis naming it."""

from __future__ import annotations

import re

import pytest

from helpers.more_layers import attention_scores_vjp, conv1d_vjp, layer_norm_vjp

from .catalogue_more import CATALOGUE_MORE

CASES = [(label, mistake) for label, (_, _, wrong) in sorted(CATALOGUE_MORE.items())
         for mistake in wrong]


@pytest.mark.parametrize("label", sorted(CATALOGUE_MORE))
def test_right_and_helper_pass(label, capsys):
    checker, right, _ = CATALOGUE_MORE[label]
    assert checker(right) is True
    helper = {"ex-more-conv1d-vjp": conv1d_vjp, "ex-more-layer-norm-vjp": layer_norm_vjp,
              "ex-more-attention-vjp": attention_scores_vjp}[label]
    assert checker(helper) is True


@pytest.mark.parametrize("label,mistake", CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_wrong_solution_is_diagnosed(label, mistake):
    checker, _, wrong = CATALOGUE_MORE[label]
    fn, pattern = wrong[mistake]
    with pytest.raises(AssertionError) as info:
        checker(fn)
    assert re.search(pattern, str(info.value)), str(info.value)
