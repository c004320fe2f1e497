"""Numbers in the prose come from the code: a thin wrapper of myst-nb's ``glue``.

A chapter computes a value and calls ``glue("ch07_final_loss", loss)``; its prose
says ``{glue:text}`ch07_final_loss:.2f` `` and the site shows the number the run
produced. Values are stored as plain Python numbers or strings (tensors and NumPy
scalars are converted), so that ``{glue:text}``'s format spec applies to them.

Where myst-nb is not installed (Colab), ``glue`` only returns the value: the cell
that computes a glued value prints it too, so the notebook stays readable there.
"""

from __future__ import annotations

import numbers

__all__ = ["glue"]


def _plain(value):
    """A Python int, float, bool or str for ``value`` (0-d tensors, NumPy scalars too)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:
        return _plain(item())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(
        f"glue: glue a number or a string (got {type(value).__name__}); "
        f"format other values into a string first")


def glue(name: str, value):
    """Store ``value`` under ``name`` for ``{glue:text}`name:fmt` `` in the prose.

    Parameters
    ----------
    name : str
        Key used in the markdown; unique within the chapter (prefix it ``chNN_``).
    value : int, float, bool, str, 0-d tensor or NumPy scalar
        The number (or short string) the prose quotes.

    Returns
    -------
    int, float, bool or str
        ``value`` as a plain Python object, so ``x = glue("k", compute())`` works.
    """
    plain = _plain(value)
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:  # Colab and other plain Jupyter: nothing to glue into
        return plain
    _myst_glue(name, plain, display=False)
    return plain
