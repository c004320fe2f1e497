"""Frames for the static website: the bounded grid of control values :data:`STATIC_GRIDS`
and :func:`static_view`, which ``_ext/explorers.py`` renders into precomputed frames.
"""

from __future__ import annotations

from .base import check_choice
from .elementwise import elementwise_jacobian_view
from .linear import _ORDER_OPTIONS, _WRT_OPTIONS, linear_jacobian_view
from .mlp import mlp_step_view

__all__ = ["STATIC_GRIDS", "static_values", "static_view"]

#: The bounded grid of control values precomputed for the website (no kernel there),
#: per explorer kind: control name -> (label, kind of control, values). Every
#: combination is one frame: 3 x 3 x 4 sizes x 3 x 2 = 216 (linear), 3 x 8 = 24
#: (element-wise), 4 (MLP). The live widget keeps the full ranges.
STATIC_GRIDS = {
    "linear": {
        "N": ("N", "range", tuple(range(1, 4))),
        "D": ("D", "range", tuple(range(1, 4))),
        "M": ("M", "range", tuple(range(1, 5))),
        "wrt": ("Jacobian", "choice", _WRT_OPTIONS),
        "order": ("flatten", "choice", _ORDER_OPTIONS),
    },
    "elementwise": {
        "activation": ("f", "choice", tuple((a, a) for a in ("relu", "tanh", "sigmoid"))),
        "n": ("n", "range", tuple(range(1, 9))),
    },
    "mlp": {"step": ("step", "steps", tuple(range(1, 5)))},
}


def static_values(kind: str) -> list[dict]:
    """Every combination of control values in ``STATIC_GRIDS[kind]``, as keyword dicts."""
    import itertools

    grid = STATIC_GRIDS[check_choice("static_values", "kind", kind, set(STATIC_GRIDS))]
    names = list(grid)
    values = [[v[1] if isinstance(v, tuple) else v for v in grid[n][2]] for n in names]
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def static_view(kind: str, config: dict, values: dict):
    """The pure callback's result for one frame of the website's explorer.

    Parameters
    ----------
    kind : {"linear", "elementwise", "mlp"}
        Which explorer (the ``kind`` attribute of its class).
    config : dict
        Its fixed arguments (``static_config()``: the seed, and the MLP's sizes).
    values : dict
        One combination of control values, e.g. from :func:`static_values`.

    Returns
    -------
    LinearView, ElementwiseView or MLPView
        With ``.fig`` (closed) and ``.alt``, checked like every redraw.
    """
    check_choice("static_view", "kind", kind, set(STATIC_GRIDS))
    if kind == "linear":
        return linear_jacobian_view(**values, seed=config.get("seed", 0))
    if kind == "elementwise":
        return elementwise_jacobian_view(**values, seed=config.get("seed", 0))
    return mlp_step_view(values["step"], **config)
