"""Chapter 3's explorer figure carries the alt text its helper generates (issue 21 §3).

The figure ``fig-jacobian-explorer`` shows ``elementwise_jacobian_view`` at a seeded random
draw, and which rows of the mask are 1 depends on that draw. Its alt text therefore is not
typed: it is the view's own ``alt``, generated from the same draw, and this test fails when
the two part (a changed seed, size or generator, or an alt text edited by hand).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from helpers.widgets import elementwise_jacobian_view

ROOT = Path(__file__).resolve().parents[1]
CH03 = ROOT / "chapters" / "03_jacobian.ipynb"
CALL = re.compile(r'elementwise_jacobian_view\("(\w+)", n=(\d+)\)')


def explorer_alt_problems(nb: dict) -> list[str]:
    """Figures drawn by ``elementwise_jacobian_view`` whose alt text is not the view's ``alt``."""
    problems = []
    for cell in nb["cells"]:
        match = CALL.search("".join(cell["source"])) if cell["cell_type"] == "code" else None
        if match is None:
            continue
        alt = cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt")
        expected = elementwise_jacobian_view(match[1], n=int(match[2])).alt
        if alt != expected:
            problems.append(f"cell {cell['id']}: alt {alt!r}, the helper says {expected!r}")
    return problems


def test_explorer_alt_text_is_the_helpers():
    nb = json.loads(CH03.read_text())
    assert any(CALL.search("".join(c["source"])) for c in nb["cells"]), "the explorer figure is gone"
    assert explorer_alt_problems(nb) == []


def test_detector_is_red_on_a_typed_alt_text():
    nb = json.loads(CH03.read_text())
    for cell in nb["cells"]:
        if CALL.search("".join(cell["source"])):
            cell["metadata"]["mystnb"]["image"]["alt"] = "Three panels, positive in rows 0 and 3."
    assert explorer_alt_problems(nb)
