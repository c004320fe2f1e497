"""Numbers in the prose come from the code: a thin wrapper of myst-nb's ``glue``.

A chapter computes a value and calls ``glue("ch07_final_loss", loss)``; its prose
says ``{glue:text}`ch07_final_loss:.2f` `` and the site shows the number the run
produced. Values are stored as plain Python numbers or strings (tensors and NumPy
scalars are converted), so that ``{glue:text}``'s format spec applies to them.

The value is displayed exactly as ``myst_nb.glue(name, value, display=False)`` does
(a display bundle under the mime prefix ``application/papermill.record/`` with
``scrapbook`` metadata; ``tests/test_glue.py`` asserts the two bundles are equal), but
without importing myst-nb, whose import pulls in nbformat and its JSON-schema checkers
(seconds per chapter). Outside a kernel (plain Python, or where IPython is absent)
``glue`` only returns the value. The cell that computes a glued value prints it too,
so the notebook reads well where glue roles do not render (Colab, plain Jupyter).
"""

from __future__ import annotations

import numbers

__all__ = ["GLUE_PREFIX", "glue", "glue_bundle"]

#: myst-nb's mime prefix for glued values (``myst_nb.ext.glue.GLUE_PREFIX``)
GLUE_PREFIX = "application/papermill.record/"


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
    bundle, metadata = glue_bundle(name, plain)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # no IPython: nothing to glue into
        return plain
    if get_ipython() is not None:
        display(bundle, raw=True, metadata=metadata)
    return plain


def glue_bundle(name: str, plain) -> tuple[dict, dict]:
    """The display bundle and metadata that myst-nb's ``glue(display=False)`` emits."""
    return ({GLUE_PREFIX + "text/plain": repr(plain)},
            {"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})
