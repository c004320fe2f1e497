"""Measuring what an explicit Jacobian costs, compared with a vector-Jacobian product.

Chapter 6 (the cost chapter) and ``benchmarks/jacobian_cost.py`` share these
functions, so that the book and the benchmark measure the same thing in the same way:

- :func:`layer_shape` puts a linear layer on a *ray* ``(N, D, M) = (s, r s, r s)``, so
  that one number ``s`` is the only thing that varies (``r = 64`` reaches the
  handout's ``N = 64, D = M = 4096`` at ``s = 64``);
- :func:`jacobian_bytes` and :func:`vjp_bytes` are the byte-count formulas, and
  :func:`checked_jacobian_bytes` / :func:`checked_vjp_bytes` read the bytes from the
  tensors themselves and assert that they equal the formulas;
- :func:`median_time`, :func:`median_times` and :func:`timing_samples` time with
  :func:`time.perf_counter`;
- :func:`sweep` runs a set of :class:`Method` objects over a list of scales;
- :func:`fit_power_law` fits ``y = c x**slope`` on log-log axes, and
  :meth:`PowerLaw.predict` extrapolates the fit.

All measurements use the layer ``Y = X @ W + b`` with ``X`` (N, D), ``W`` (D, M),
``b`` (M,) and upstream gradient ``G`` (N, M). Importing this module has no side
effects.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch

from .jacobians import jacobian
from .layers import linear_vjp
from .shapes import as_tensor, check_shape, fmt_shape

__all__ = [
    "OKABE_ITO",
    "RAY_SLOPES",
    "Method",
    "PowerLaw",
    "checked_jacobian_bytes",
    "checked_vjp_bytes",
    "fit_power_law",
    "fit_threshold",
    "jacobian_bytes",
    "jacobian_methods",
    "layer_shape",
    "make_layer",
    "median_time",
    "median_times",
    "plot_sweep",
    "sweep",
    "tensor_bytes",
    "timing_samples",
    "vjp_bytes",
    "vjp_methods",
]


#: Theoretical log-log slopes against the scale ``s`` on the ray ``(N, D, M) = (s, r s, r s)``:
#: the explicit Jacobian holds ``N**2 D M`` numbers (slope 4) and a builder that makes one
#: dense VJP (or JVP) per output (input) element does ``N M`` (``N D``) products of
#: ``N D M`` multiply-adds each (slope 5); the VJP does ``2 N D M`` multiply-adds (slope 3)
#: and reads and writes ``N M + 2 N D + 2 D M + M`` numbers (:func:`vjp_bytes`; slope 2).
RAY_SLOPES = {"jacobian_bytes": 4, "jacobian_time": 5, "vjp_bytes": 2, "vjp_time": 3}

#: Okabe-Ito colours, distinguishable with the common forms of colour blindness.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#000000"]


def _positive_int(func: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{func}: {name} must be a positive integer, got {value!r}")
    return value


def layer_shape(s: int, ratio: int = 64) -> tuple[int, int, int]:
    """The layer sizes ``(N, D, M) = (s, ratio * s, ratio * s)`` at scale ``s``.

    Along this ray every size grows in proportion to ``s``, so a quantity that
    grows like ``N**a D**b M**c`` grows like ``s**(a + b + c)``: the explicit Jacobian's
    ``N**2 D M`` entries give slope 4, the VJP's ``N D M`` multiply-adds slope 3.

    Parameters
    ----------
    s : int
        Scale, positive; the batch size N.
    ratio : int
        ``D / N = M / N``, positive. The default 64 gives ``(64, 4096, 4096)`` at ``s = 64``.

    Returns
    -------
    tuple of int
        ``(N, D, M)``.
    """
    _positive_int("layer_shape", "s", s)
    _positive_int("layer_shape", "ratio", ratio)
    return s, ratio * s, ratio * s


def jacobian_bytes(N: int, D: int, M: int, itemsize: int) -> int:
    """Bytes of the explicit Jacobian dY/dX of a linear layer: ``N*M*N*D*itemsize``.

    The Jacobian has shape ``(N, M, N, D)``: one entry per (output element, input element).

    Parameters
    ----------
    N, D, M : int
        Batch size, input features, output features (positive).
    itemsize : int
        Bytes per number: 4 for float32, 8 for float64.

    Returns
    -------
    int
    """
    for name, v in (("N", N), ("D", D), ("M", M), ("itemsize", itemsize)):
        _positive_int("jacobian_bytes", name, v)
    return N * M * N * D * itemsize


def vjp_bytes(N: int, D: int, M: int, itemsize: int) -> int:
    """Bytes of a linear layer's VJP: what it reads (G, X, W) plus what it writes (dX, dW, db).

    The one definition of the VJP's memory used throughout the book. The VJP
    ``dX = G @ W.T``, ``dW = X.T @ G``, ``db = G.sum(0)`` reads the upstream gradient
    G (N, M), the input X (N, D) and the weights W (D, M), and writes dX (N, D),
    dW (D, M) and db (M,)::

        reads  = N*M + N*D + D*M
        writes = N*D + D*M + M
        vjp_bytes = (reads + writes) * itemsize = (N*M + 2*N*D + 2*D*M + M) * itemsize

    The bias b is not read (db does not depend on it). The count grows like
    ``N D + D M + N M``, never like a product of three sizes as the explicit
    Jacobian's ``N**2 D M`` does.

    Parameters
    ----------
    N, D, M : int
        Batch size, input features, output features (positive).
    itemsize : int
        Bytes per number: 4 for float32, 8 for float64.

    Returns
    -------
    int
    """
    for name, v in (("N", N), ("D", D), ("M", M), ("itemsize", itemsize)):
        _positive_int("vjp_bytes", name, v)
    reads = N * M + N * D + D * M      # G, X, W
    writes = N * D + D * M + M         # dX, dW, db
    return (reads + writes) * itemsize


def tensor_bytes(*tensors: torch.Tensor) -> int:
    """Bytes held by the elements of the given tensors: ``sum(t.element_size() * t.numel())``.

    Parameters
    ----------
    *tensors : torch.Tensor
        Any shapes and dtypes.

    Returns
    -------
    int
    """
    total = 0
    for i, t in enumerate(tensors):
        as_tensor("tensor_bytes", f"tensors[{i}]", t)
        total += t.element_size() * t.numel()
    return total


def checked_jacobian_bytes(J: torch.Tensor, N: int, D: int, M: int) -> int:
    """Bytes of an explicit Jacobian read from the tensor, asserted equal to the formula.

    Parameters
    ----------
    J : torch.Tensor
        dY/dX, shape ``(N, M, N, D)``.
    N, D, M : int
        The layer's sizes.

    Returns
    -------
    int
        ``J.element_size() * J.numel()``.

    Raises
    ------
    ValueError
        If ``J`` does not have shape ``(N, M, N, D)``.
    AssertionError
        If the measured bytes differ from :func:`jacobian_bytes` (cannot happen for a
        dense tensor; the assert documents that the formula is the tensor's size).
    """
    check_shape("checked_jacobian_bytes", "J", J, (N, M, N, D), "(N, M, N, D)")
    measured = tensor_bytes(J)
    formula = jacobian_bytes(N, D, M, J.element_size())
    assert measured == formula, f"Jacobian holds {measured} bytes, formula says {formula}"
    return measured


def checked_vjp_bytes(G: torch.Tensor, X: torch.Tensor, W: torch.Tensor,
                      grads: Sequence[torch.Tensor], N: int, D: int, M: int) -> int:
    """Bytes the VJP reads (``G``, ``X``, ``W``) and writes (``dX``, ``dW``, ``db``), read
    from the tensors themselves after checking their shapes.

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient, shape ``(N, M)``.
    X, W : torch.Tensor
        The layer's input ``(N, D)`` and weights ``(D, M)``.
    grads : sequence of torch.Tensor
        ``(dX, dW, db)`` of shapes ``(N, D)``, ``(D, M)``, ``(M,)``.
    N, D, M : int
        The layer's sizes.

    Returns
    -------
    int
        ``sum(t.element_size() * t.numel())`` over the six tensors; equal to
        :func:`vjp_bytes` for dense tensors of one dtype.

    Raises
    ------
    ValueError
        If a shape is not the expected one, or ``grads`` does not hold three tensors.
    """
    if len(grads) != 3:
        raise ValueError(f"checked_vjp_bytes: expected grads (dX, dW, db), got {len(grads)} items")
    dX, dW, db = grads
    check_shape("checked_vjp_bytes", "G", G, (N, M), "(N, M)")
    check_shape("checked_vjp_bytes", "X", X, (N, D), "(N, D)")
    check_shape("checked_vjp_bytes", "W", W, (D, M), "(D, M)")
    check_shape("checked_vjp_bytes", "dX", dX, (N, D), "(N, D)")
    check_shape("checked_vjp_bytes", "dW", dW, (D, M), "(D, M)")
    check_shape("checked_vjp_bytes", "db", db, (M,), "(M,)")
    return tensor_bytes(G, X, W, dX, dW, db)


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs, after ``warmup`` runs.

    Timed with :func:`time.perf_counter`. The median, not the mean, because on a shared
    machine a few runs are slowed down by other processes.

    Parameters
    ----------
    fn : callable
        Called with no arguments.
    repeats : int
        Timed runs, at least 1.
    warmup : int
        Untimed runs first (at least 0): the first call often pays one-off costs.

    Returns
    -------
    float
        Seconds.
    """
    return median_times({"fn": fn}, repeats=repeats, warmup=warmup)["fn"]


def timing_samples(fns: dict[str, Callable[[], object]], repeats: int = 5,
                   warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of every timed run of several functions, run interleaved (A, B, A, B, ...).

    Interleaving spreads a slow spell of a shared machine over all the functions
    instead of penalizing whichever happened to run during it, which makes the
    *ratio* of two timings fairer. Each run is timed with :func:`time.perf_counter`.

    Parameters
    ----------
    fns : dict of str to callable
        Functions called with no arguments.
    repeats : int
        Timed runs of each, at least 1.
    warmup : int
        Untimed runs of each first, at least 0.

    Returns
    -------
    dict of str to list of float
        ``repeats`` durations in seconds per name, in the order they were measured.
    """
    _positive_int("timing_samples", "repeats", repeats)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"timing_samples: warmup must be a non-negative integer, got {warmup!r}")
    if not fns:
        raise ValueError("timing_samples: fns is empty")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median_times(fns: dict[str, Callable[[], object]], repeats: int = 5,
                 warmup: int = 1) -> dict[str, float]:
    """Median seconds of several functions, timed interleaved by :func:`timing_samples`.

    Parameters
    ----------
    fns : dict of str to callable
        Functions called with no arguments.
    repeats : int
        Timed runs of each, at least 1.
    warmup : int
        Untimed runs of each first, at least 0.

    Returns
    -------
    dict of str to float
        Median seconds per name.
    """
    samples = timing_samples(fns, repeats=repeats, warmup=warmup)
    return {name: statistics.median(ts) for name, ts in samples.items()}


@dataclass(frozen=True)
class PowerLaw:
    """A fitted power law ``y = exp(intercept) * x**slope`` (a line on log-log axes).

    Attributes
    ----------
    slope : float
        The exponent: the slope of ``log y`` against ``log x``.
    intercept : float
        ``log y`` at ``x = 1`` (natural log).
    """

    slope: float
    intercept: float

    def predict(self, x: float) -> float:
        """Extrapolate (or interpolate) the fit: ``exp(intercept) * x**slope``, for ``x > 0``."""
        if not x > 0:
            raise ValueError(f"PowerLaw.predict: x must be positive, got {x!r}")
        return math.exp(self.intercept + self.slope * math.log(x))


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> PowerLaw:
    """Least-squares fit of ``log y = intercept + slope * log x``.

    Parameters
    ----------
    x, y : sequence of float
        Same length (at least 2), all positive, with at least two distinct ``x``.

    Returns
    -------
    PowerLaw
    """
    xs, ys = [float(v) for v in x], [float(v) for v in y]
    if len(xs) != len(ys):
        raise ValueError(f"fit_power_law: x has {len(xs)} values but y has {len(ys)}")
    if len(xs) < 2:
        raise ValueError(f"fit_power_law: need at least 2 points, got {len(xs)}")
    if any(not (v > 0 and math.isfinite(v)) for v in xs + ys):
        raise ValueError("fit_power_law: every x and y must be positive and finite "
                         "(a log-log fit takes their logarithms)")
    lx, ly = [math.log(v) for v in xs], [math.log(v) for v in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    if sxx == 0:
        raise ValueError("fit_power_law: all x are equal; the slope is undefined")
    slope = sum((a - mx) * (c - my) for a, c in zip(lx, ly)) / sxx
    return PowerLaw(slope=slope, intercept=my - slope * mx)


@dataclass(frozen=True)
class Method:
    """One way to compute dY/dX (``kind="jacobian"``) or the VJP (``kind="vjp"``).

    Attributes
    ----------
    name : str
        Label used in tables and plots.
    kind : {"jacobian", "vjp"}
        A Jacobian method returns ``J`` of shape ``(N, M, N, D)``; a VJP method
        returns ``(dX, dW, db)``.
    prepare : callable
        ``prepare(X, W, b, G)`` does the untimed set-up (for autograd: the forward
        pass that records the graph) and returns the zero-argument function to time.
    """

    name: str
    kind: str
    prepare: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
                      Callable[[], object]]

    def __post_init__(self):
        if self.kind not in ("jacobian", "vjp"):
            raise ValueError(f"Method {self.name!r}: kind must be 'jacobian' or 'vjp', "
                             f"got {self.kind!r}")


def _prep_helpers_jacobian(X, W, b, G):
    return lambda: jacobian(lambda X_: X_ @ W + b, X)


def _prep_jacrev(X, W, b, G):
    build = torch.func.jacrev(lambda X_: X_ @ W + b)
    return lambda: build(X)


def _prep_jacfwd(X, W, b, G):
    build = torch.func.jacfwd(lambda X_: X_ @ W + b)
    return lambda: build(X)


def _prep_closed_form(X, W, b, G):
    def run():
        with torch.no_grad():  # no graph is recorded: just the two products and a sum
            return linear_vjp(G, X, W)
    return run


def _prep_autograd(X, W, b, G):
    Xr, Wr, br = (t.detach().requires_grad_(True) for t in (X, W, b))
    Y = Xr @ Wr + br  # forward pass, untimed: only the backward pass is measured
    # torch.autograd.grad returns fresh gradients (no accumulation into .grad)
    return lambda: torch.autograd.grad(Y, (Xr, Wr, br), G, retain_graph=True)


def jacobian_methods(include_loop: bool = True) -> list[Method]:
    """The three explicit builders of dY/dX: ``helpers.jacobian``, ``jacrev``, ``jacfwd``.

    Parameters
    ----------
    include_loop : bool
        Include :func:`helpers.jacobian` (one Python-level VJP per output element, the
        slowest of the three).

    Returns
    -------
    list of Method
    """
    methods = [Method("jacrev", "jacobian", _prep_jacrev),
               Method("jacfwd", "jacobian", _prep_jacfwd)]
    if include_loop:
        methods.insert(0, Method("helpers.jacobian", "jacobian", _prep_helpers_jacobian))
    return methods


def vjp_methods() -> list[Method]:
    """The two VJPs: the closed form (:func:`helpers.linear_vjp` under ``no_grad``) and
    autograd's backward pass (:func:`torch.autograd.grad` on a recorded forward pass).

    Both compute ``dX = G @ W.T``, ``dW = X.T @ G`` and ``db = G.sum(0)``.

    Returns
    -------
    list of Method
    """
    return [Method("closed-form VJP", "vjp", _prep_closed_form),
            Method("autograd backward", "vjp", _prep_autograd)]


def make_layer(N: int, D: int, M: int, dtype: torch.dtype = torch.float32,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random ``X`` (N, D), ``W`` (D, M), ``b`` (M,) and ``G`` (N, M) from a private generator.

    Parameters
    ----------
    N, D, M : int
        Positive sizes.
    dtype : torch.dtype
        float32 (the default: what networks train in) or float64.
    seed : int
        Seed of the private generator (the global RNG is not touched).

    Returns
    -------
    tuple of torch.Tensor
        ``(X, W, b, G)``.
    """
    for name, v in (("N", N), ("D", D), ("M", M)):
        _positive_int("make_layer", name, v)
    if not dtype.is_floating_point:
        raise ValueError(f"make_layer: dtype must be floating point, got {dtype}")
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, dtype=dtype, generator=gen)
                 for shape in ((N, D), (D, M), (M,), (N, M)))


def sweep(scales: Iterable[int], methods: Sequence[Method], *, ratio: int = 64,
          dtype: torch.dtype = torch.float32, repeats: int = 3, warmup: int = 1,
          max_bytes: int = 500 * 10**6, progress: Callable[[Iterable], Iterable] | None = None,
          ) -> list[dict]:
    """Time and measure every method at every scale ``s`` on the ray :func:`layer_shape`.

    For each ``s`` a fresh layer is made with :func:`make_layer`; each method's result
    is computed once untimed, its bytes are read from the tensors and asserted equal to
    the formula (:func:`checked_jacobian_bytes` or :func:`checked_vjp_bytes`), then its
    median time is measured with :func:`median_times`.

    Parameters
    ----------
    scales : iterable of int
        Positive scales ``s``.
    methods : sequence of Method
        What to measure (see :func:`jacobian_methods`, :func:`vjp_methods`).
    ratio : int
        ``D / N = M / N`` of the ray.
    dtype : torch.dtype
        Dtype of the layer.
    repeats, warmup : int
        Passed to :func:`median_times`.
    max_bytes : int
        Refuse (``ValueError``, before allocating anything) a scale at which an explicit
        Jacobian would exceed this many bytes.
    progress : callable, optional
        Wraps the list of (scale, method) steps, e.g. ``tqdm.tqdm``.

    Returns
    -------
    list of dict
        One row per (scale, method): ``method``, ``kind``, ``s``, ``N``, ``D``, ``M``,
        ``dtype``, ``bytes``, ``seconds``.
    """
    scales = [_positive_int("sweep", "scale", s) for s in scales]
    if not methods:
        raise ValueError("sweep: methods is empty")
    itemsize = torch.empty((), dtype=dtype).element_size()
    for s in scales:
        N, D, M = layer_shape(s, ratio)
        if any(m.kind == "jacobian" for m in methods) and \
                jacobian_bytes(N, D, M, itemsize) > max_bytes:
            raise ValueError(
                f"sweep: at s={s} the Jacobian of shape {fmt_shape((N, M, N, D))} would take "
                f"{jacobian_bytes(N, D, M, itemsize)} bytes, more than max_bytes={max_bytes}")
    steps = [(s, m) for s in scales for m in methods]
    rows = []
    layers: dict[int, tuple] = {}
    for s, method in (progress(steps) if progress is not None else steps):
        N, D, M = layer_shape(s, ratio)
        if s not in layers:
            layers.clear()  # keep one layer alive at a time
            layers[s] = make_layer(N, D, M, dtype=dtype, seed=s)
        X, W, b, G = layers[s]
        run = method.prepare(X, W, b, G)
        out = run()
        if method.kind == "jacobian":
            nbytes = checked_jacobian_bytes(out, N, D, M)
        else:
            nbytes = checked_vjp_bytes(G, X, W, out, N, D, M)
        del out
        # the untimed call above was the first warm-up run
        seconds = median_times({method.name: run}, repeats=repeats,
                               warmup=max(warmup - 1, 0))[method.name]
        rows.append({"method": method.name, "kind": method.kind, "s": s, "N": N, "D": D,
                     "M": M, "dtype": str(dtype).replace("torch.", ""), "bytes": nbytes,
                     "seconds": seconds})
    return rows


def fit_threshold(fit_from, kind: str) -> int:
    """The smallest scale to fit for rows of ``kind``.

    Parameters
    ----------
    fit_from : int or mapping of str to int
        One threshold for every kind, or one per kind (``{"jacobian": 3, "vjp": 8}``);
        a kind missing from the mapping is fitted from scale 1.
    kind : str
        ``"jacobian"`` or ``"vjp"``, the ``kind`` field of a :func:`sweep` row.
    """
    if isinstance(fit_from, int):
        return fit_from
    return int(fit_from.get(kind, 1))


def plot_sweep(rows: Sequence[dict], quantity: str = "seconds", ax=None, *,
               methods: Sequence[str] | None = None, fit: bool = True, fit_from: int = 1):
    """Log-log plot of time or bytes against the scale ``s``, one line per method.

    Each method gets an Okabe-Ito colour and its own marker; with ``fit=True`` the
    fitted power law (:func:`fit_power_law`) is drawn dashed and its slope is written
    in the legend.

    Parameters
    ----------
    rows : sequence of dict
        Rows from :func:`sweep`.
    quantity : {"seconds", "bytes"}
        What to plot on the y axis.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made if omitted.
    methods : sequence of str, optional
        Which methods to draw, in this order; all of them by default.
    fit : bool
        Draw the fitted lines (needs two or more scales per method).
    fit_from : int or mapping
        Fit only the scales ``s >= fit_from`` (small scales mostly measure the fixed
        cost of a call); all scales if fewer than two remain. A mapping gives one
        threshold per kind of row (``"jacobian"``, ``"vjp"``), see :func:`fit_threshold`.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if quantity not in ("seconds", "bytes"):
        raise ValueError(f"plot_sweep: quantity must be 'seconds' or 'bytes', got {quantity!r}")
    if methods is None:
        methods = list(dict.fromkeys(r["method"] for r in rows))
    if ax is None:
        _, ax = plt.subplots()
    markers = "os^Dvx*"
    for i, name in enumerate(methods):
        sel = [r for r in rows if r["method"] == name]
        if not sel:
            raise ValueError(f"plot_sweep: no rows for method {name!r}")
        xs, ys = [r["s"] for r in sel], [r[quantity] for r in sel]
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        label = name
        start = fit_threshold(fit_from, sel[0].get("kind", ""))
        fx = [x for x in xs if x >= start]
        fxy = [(x, y) for x, y in zip(xs, ys) if x >= start] if len(set(fx)) >= 2 \
            else list(zip(xs, ys))
        if fit and len({x for x, _ in fxy}) >= 2:
            law = fit_power_law([x for x, _ in fxy], [y for _, y in fxy])
            label = f"{name} (slope {law.slope:.2f})"
            ax.plot([x for x, _ in fxy], [law.predict(x) for x, _ in fxy], "--", color=colour,
                    lw=1)
        ax.plot(xs, ys, markers[i % len(markers)], color=colour, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("scale s   (N, D, M) = (s, 64 s, 64 s)" if rows and rows[0]["D"] == 64 * rows[0]["s"]
                  else "scale s")
    ax.set_ylabel("median time (s)" if quantity == "seconds" else "bytes")
    ax.legend(fontsize=8, frameon=False)
    return ax
