"""The explorers' shared parts: size and choice checks, the silent matrix check, the figure
as an ``<img>`` with alt text, and the base class of the thin ipywidgets wrappers.

See :mod:`helpers.widgets` for how an explorer is built (pure callback, thin wrapper,
frames for the static website).
"""

from __future__ import annotations

import torch

from ..shapes import fmt_shape

__all__ = ["ELEMENTWISE_SIZE_RANGE", "SIZE_RANGE", "check_same", "figure_html"]

#: Allowed sizes for N, D, M (linear explorer) and for the MLP's N, D, H, C.
SIZE_RANGE = (1, 6)
#: Allowed vector sizes for the element-wise explorer.
ELEMENTWISE_SIZE_RANGE = (1, 8)

F64 = torch.float64


# --------------------------------------------------------------------------- checks

def check_size(func: str, name: str, value, lo: int, hi: int) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming it and the range."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(
            f"{func}: {name}={value!r} is out of range; expected an integer from {lo} to {hi}"
        )
    return int(value)


def check_choice(func: str, name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{func}: {name}={value!r}; expected one of {sorted(choices)}")
    return value


def check_same(name: str, got: torch.Tensor, expected: torch.Tensor) -> None:
    """Assert that two independently computed matrices agree (float64 tolerance).

    Used on every redraw: the matrix in the picture against its closed form or
    against autograd. Unlike :func:`helpers.compare` it prints nothing, so the
    callbacks stay silent.

    Parameters
    ----------
    name : str
        What is being compared, used in the message.
    got, expected : torch.Tensor
        Any shape; they must have the same shape.

    Raises
    ------
    AssertionError
        If the shapes differ or the values are not close (rtol = atol = 1e-10).
    """
    if tuple(got.shape) != tuple(expected.shape):
        raise AssertionError(
            f"{name}: shape {fmt_shape(got.shape)} but expected {fmt_shape(expected.shape)}"
        )
    a, e = got.detach().to(F64), expected.detach().to(F64)
    # torch.allclose rather than torch.testing.assert_close: same test, but the latter
    # imports torch.distributed on first use (over a second on a busy machine)
    if not torch.allclose(a, e, rtol=1e-10, atol=1e-10):
        diff = (a - e).abs()
        where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
        raise AssertionError(
            f"{name}: {int((diff > 1e-10 + 1e-10 * e.abs()).sum())} of {a.numel()} entries "
            f"differ; largest difference {float(diff.max()):.3g} at index {where}"
        )


def figure_html(fig, alt: str) -> str:
    """The figure as an ``<img>`` tag with alt text (a PNG inlined as base64).

    The explorers show their figure this way, in an ``ipywidgets.HTML``, rather than
    through an Output widget: the picture then carries alt text also when the book's
    website embeds the widget's saved state (no kernel there).

    Parameters
    ----------
    fig : matplotlib Figure
    alt : str
        Alternative text describing the figure.

    Returns
    -------
    str
        ``<img alt="..." src="data:image/png;base64,...">``.
    """
    import base64
    import html
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<img alt="{html.escape(alt, quote=True)}" style="max-width: 100%" '
            f'src="data:image/png;base64,{data}">')


class _Explorer:
    """Base of the thin wrappers around the pure callbacks.

    ``controls`` holds the control widgets by argument name, ``image`` the
    ``ipywidgets.HTML`` showing the figure, ``ui`` the box Jupyter displays and ``view``
    the last result of the callback. Every change of a control calls :meth:`redraw`
    (``observe``). If the callback's check fails, the message replaces the figure and
    the ``AssertionError`` propagates.
    """

    ui = None
    view = None
    controls: dict = {}

    def _callback(self, **values):  # pragma: no cover - overridden
        raise NotImplementedError

    def _connect(self) -> None:
        for control in self.controls.values():
            control.observe(self.redraw, names="value")
        self.redraw()

    def redraw(self, change=None) -> None:
        """Call the pure callback with the controls' values and show its figure."""
        import html

        values = {name: c.value for name, c in self.controls.items()}
        try:
            view = self._callback(**values)
        except AssertionError as exc:
            self.image.value = (f'<pre style="color: #b2182b">check failed, the picture would '
                                f'be wrong:\n{html.escape(str(exc))}</pre>')
            raise
        self.view = view
        self.image.value = figure_html(view.fig, view.alt)

    def update(self, **values) -> None:
        """Set controls by argument name (each change redraws, as a user's would)."""
        for name, value in values.items():
            if name not in self.controls:
                raise ValueError(f"{type(self).__name__}.update: unknown control {name!r}; "
                                 f"expected one of {sorted(self.controls)}")
            self.controls[name].value = value

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={c.value!r}" for k, c in self.controls.items())
        return f"{type(self).__name__}({values})"

    def _repr_mimebundle_(self, **kwargs):
        """The widget view (live kernels), an HTML form (static pages) and a short text.

        Built here rather than delegated to the box: ipywidgets 8 has
        ``Widget._repr_mimebundle_`` but 7.7 (Colab's) only ``_ipython_display_``, and
        both send this same widget-view bundle (protocol version 2.0). The ``text/html``
        entry is the current figure inside ``<div class="book-explorer">`` with the
        explorer's kind, settings and control values as JSON: front ends with a kernel
        prefer the widget view; the book's site (``_ext/explorers.py``) replaces the
        HTML with precomputed frames and controls that work without a kernel.
        """
        import html
        import json

        spec = {"kind": self.kind, "config": self.static_config(),
                "values": {name: c.value for name, c in self.controls.items()}}
        return {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2, "version_minor": 0, "model_id": self.ui.model_id},
            "text/html": (f'<div class="book-explorer" data-book-explorer="'
                          f'{html.escape(json.dumps(spec, sort_keys=True), quote=True)}">'
                          f"{self.image.value}</div>"),
            # a short text form: the box's own repr would spell out the whole PNG
            "text/plain": repr(self),
        }

    kind = ""

    def static_config(self) -> dict:
        """The arguments, other than the controls, that fix what the callback draws."""
        return {"seed": self.seed}
