"""The explorers move on the static site (issue 12, item 4; ``_ext/explorers.py``).

For each explorer page: the precomputed widget is there (not the frozen ipywidgets
snapshot), changing a control shows another frame -- a different image file whose pixels
differ, with an alt text that changes with it -- and the frame loads. The moves
(:data:`site_browser.EXPLORERS`) are made during the page's desktop visit, which
records every frame; the page is not loaded again for them.
"""

from __future__ import annotations

import pytest
from site_browser import DESKTOP, EXPLORERS, SITE


@pytest.mark.parametrize("report", [pytest.param((p, DESKTOP), id=f"{p}@{DESKTOP}px")
                                    for p in sorted(EXPLORERS)], indirect=True)
def test_explorer_moves_without_a_kernel(report):
    if not (SITE / report.page).exists():
        pytest.skip(f"{report.page} not built")
    ex = report.explorer
    assert ex["ready"] == 1, f"{report.page}: the explorer's script did not set it up ({ex})"
    # no frozen ipywidgets snapshot next to it: the static version replaced it
    assert ex["snapshots"] == 0, f"{report.page}: an ipywidgets snapshot is on the page"
    states = ex["states"]
    assert states[0]["loaded"], states[0]
    assert len(ex["moves"]) == len(EXPLORERS[report.page]) == len(states) - 1
    for move, before, now in zip(ex["moves"], states, states[1:]):
        what = f"{report.page}: {move['control']}={move['value']}"
        assert move["changed"], f"{what}: no new frame loaded within 10 s"
        assert now["src"] != before["src"], what
        assert now["pixels"] != before["pixels"], f"{what}: same picture"
        assert now["alt"] != before["alt"], f"{what}: the alt text did not change"
        assert now["alt"].strip(), f"{what}: empty alt text"
    uncaught = [e for e in report.console_errors if e.startswith("uncaught")]
    assert uncaught == [], f"{report.page}: errors while the explorer moved"
