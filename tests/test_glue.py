"""helpers.glue emits what myst-nb's glue emits, for the values the chapters glue."""

from __future__ import annotations

import pytest
import torch

from helpers.glue import GLUE_PREFIX, _plain, glue, glue_bundle


@pytest.mark.parametrize("value", [3, 2.5, 1e-11, "0.70", True, torch.tensor(0.25),
                                   torch.tensor(7)])
def test_bundle_equals_myst_nb(monkeypatch, value):
    import myst_nb.ext.glue as mg

    seen = {}

    def fake_display(bundle, raw, metadata):
        seen["bundle"], seen["metadata"] = bundle, metadata

    monkeypatch.setattr(mg, "ipy_display", fake_display)
    plain = _plain(value)
    mg.glue("k", plain, display=False)
    assert mg.GLUE_PREFIX == GLUE_PREFIX
    assert (seen["bundle"], seen["metadata"]) == glue_bundle("k", plain)


def test_glue_returns_plain_values_and_rejects_others():
    assert glue("k", torch.tensor(1.5)) == 1.5 and type(glue("k", torch.tensor(2))) is int
    with pytest.raises(TypeError, match="glue a number or a string"):
        glue("k", torch.ones(2))
