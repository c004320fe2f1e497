"""The explorers move on the static site (issue 12, item 4; ``_ext/explorers.py``).

For each explorer page: the precomputed widget is there (not the frozen ipywidgets
snapshot), changing a control shows another frame -- a different image file whose pixels
differ, with an alt text that changes with it -- and the frame loads.
"""

from __future__ import annotations

import pytest
from site_browser import SITE, new_context

#: page -> (control to change, value to set) for each explorer of the book
EXPLORERS = {
    "chapters/03_jacobian.html": [("activation", "tanh"), ("n", "3")],
    "chapters/05_linear_layer.html": [("wrt", "b"), ("N", "3"), ("order", "row")],
    "chapters/07_mlp.html": [("step", "4"), ("button", "-1")],
}

STATE = """(box) => {
  const img = box.querySelector('img.book-explorer-frame');
  return {src: img.getAttribute('src'), alt: img.getAttribute('alt'),
          loaded: img.complete && img.naturalWidth > 0,
          pixels: (() => { const c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, c.width, c.height).data;
            let h = 0; for (let i = 0; i < d.length; i += 97) { h = (h * 31 + d[i]) >>> 0; }
            return c.width + 'x' + c.height + ':' + h; })()};
}"""


@pytest.mark.parametrize("page", sorted(EXPLORERS))
def test_explorer_moves_without_a_kernel(browser, base_url, page):
    if not (SITE / page).exists():
        pytest.skip(f"{page} not built")
    external: list[str] = []
    context = new_context(browser, external)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        tab.goto(f"{base_url}/{page}", wait_until="load")
        boxes = tab.locator(".book-explorer.book-explorer-ready")
        assert boxes.count() == 1, "the explorer's script did not set it up"
        box = boxes.first
        box.scroll_into_view_if_needed()
        tab.wait_for_function("() => document.querySelector('img.book-explorer-frame').complete")
        seen = [box.evaluate(STATE)]
        assert seen[0]["loaded"], seen[0]
        for name, value in EXPLORERS[page]:
            if name == "button":
                box.locator(f'button[data-move="{value}"]').click()
            else:
                control = box.locator(f'[name="{name}"]')
                if control.evaluate("e => e.tagName") == "SELECT":
                    control.select_option(value)
                else:
                    control.fill(value)          # a range input: sets the value, fires input
            tab.wait_for_function(
                "(src) => { const i = document.querySelector('img.book-explorer-frame');"
                " return i.getAttribute('src') !== src && i.complete && i.naturalWidth > 0; }",
                arg=seen[-1]["src"], timeout=10_000)
            now = box.evaluate(STATE)
            before = seen[-1]
            assert now["src"] != before["src"], (name, value)
            assert now["pixels"] != before["pixels"], f"{name}={value}: same picture"
            assert now["alt"] != before["alt"], f"{name}={value}: the alt text did not change"
            assert now["alt"].strip(), "empty alt text"
            seen.append(now)
        # no frozen ipywidgets snapshot next to it: the static version replaced it
        assert tab.locator(".jupyter-widgets").count() == 0
        assert errors == [], errors
    finally:
        context.close()
