"""Failure demos are verified: a wrong formula shown in a chapter must be rejected.

``helpers.expect_wrong`` and ``helpers.rejects`` raise when the check they wrap does
not reject; no chapter relies on nbval's ``raises-exception`` tag, which accepts a
cell that runs cleanly.
"""

from __future__ import annotations

import pytest
import torch

from helpers import FailureDemoPassed, compare, expect_wrong, rejects


F64 = torch.float64


def test_expect_wrong_passes_when_the_check_rejects(capsys):
    a = torch.arange(6, dtype=F64).reshape(2, 3)
    message = expect_wrong("off by one", a + 1, a)
    assert "not close" in message
    out = capsys.readouterr().out
    assert "WRONG" in out and "rejected, as it should be" in out


def test_expect_wrong_fails_when_the_wrong_formula_is_right():
    a = torch.arange(6, dtype=F64).reshape(2, 3)
    with pytest.raises(FailureDemoPassed, match="no longer fails"):
        expect_wrong("made right", a.clone(), a)


def test_expect_wrong_fails_when_compare_is_disabled(monkeypatch):
    """The mutation the issue describes: assert_close silently disabled."""
    monkeypatch.setattr(torch.testing, "assert_close", lambda *a, **k: None)
    a = torch.arange(6, dtype=F64).reshape(2, 3)
    with pytest.raises(FailureDemoPassed):
        expect_wrong("disabled check", a + 1, a)


def test_expect_wrong_shape_and_match():
    a = torch.zeros(2, 3, dtype=F64)
    assert "shape" in expect_wrong("transposed", a.T, a, match="shape")
    with pytest.raises(FailureDemoPassed, match="not for the expected reason"):
        expect_wrong("off by one", a + 1, a, match="shape")


def test_rejects_lets_unexpected_errors_through():
    with pytest.raises(KeyError):
        with rejects("a bug in the demo itself"):
            raise KeyError("typo")
    with pytest.raises(FailureDemoPassed):
        with rejects("nothing rejected"):
            compare("same", torch.ones(2, dtype=F64), torch.ones(2, dtype=F64))
