"""Measuring what an explicit Jacobian costs, compared with a vector-Jacobian product.

Chapter 6 (the cost chapter), its appendix (``chapters/appendix_measuring_cost.ipynb``:
the sweep, the fits, the profiler) and ``benchmarks/jacobian_cost.py`` share these
functions, so that the book and the benchmark measure the same thing in the same way:

- :func:`layer_shape` puts a linear layer on a *ray* ``(N, D, M) = (s, r s, r s)``, so
  that one number ``s`` is the only thing that varies (``r = 64`` reaches the
  handout's ``N = 64, D = M = 4096`` at ``s = 64``);
- :func:`jacobian_bytes` and :func:`vjp_bytes` are the byte-count formulas, and
  :func:`checked_jacobian_bytes` / :func:`checked_vjp_bytes` read the bytes from the
  tensors themselves after checking their shapes;
- :func:`median_time`, :func:`median_times` and :func:`timing_samples` time with
  :func:`time.perf_counter`;
- :func:`sweep` runs a set of :class:`Method` objects over a list of scales;
- :func:`peak_bytes` measures the CPU allocator's peak during a call (PyTorch's
  profiler, memory events), :func:`saved_for_backward` the tensors autograd saves;
- :func:`method_flops` is the exact FLOP count of each method (checked against
  :class:`torch.utils.flop_counter.FlopCounterMode` in the tests and in chapter 6); the
  count for ``jacfwd`` includes :data:`JACFWD_ZERO_PRODUCTS`, a PyTorch artefact verified on
  torch :data:`JACFWD_VERIFIED_TORCH`;
- :func:`fit_power_law` fits ``y = c x**slope`` on log-log axes with the slope's
  standard error; :func:`fit_method` applies the book's one rule for when a fit is
  supported, and :func:`extrapolate_seconds` extrapolates only a fit within
  :data:`MAX_SLOPE_DEVIATION` of theory, otherwise anchors on the exact count.

All measurements use the layer ``Y = X @ W + b`` with ``X`` (N, D), ``W`` (D, M),
``b`` (M,) and upstream gradient ``G`` (N, M). Importing this module has no side
effects.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import torch

from .jacobians import jacobian
from .layers import linear_vjp
from .shapes import as_tensor, check_shape, fmt_shape

__all__ = [
    "JACFWD_VERIFIED_TORCH",
    "JACFWD_ZERO_PRODUCTS",
    "MAX_SLOPE_DEVIATION",
    "MIN_FIT_POINTS",
    "MIN_FIT_SPAN",
    "MIN_FLOPS_PER_CALL",
    "OKABE_ITO",
    "RAY_SLOPES",
    "Method",
    "PowerLaw",
    "checked_jacobian_bytes",
    "checked_vjp_bytes",
    "extrapolate_seconds",
    "fit_method",
    "fit_power_law",
    "jacobian_bytes",
    "jacobian_methods",
    "layer_shape",
    "make_layer",
    "median_time",
    "matmul_shapes",
    "median_times",
    "method_calls",
    "method_flops",
    "peak_bytes",
    "plot_sweep",
    "saved_for_backward",
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

#: Products of the forward pass's size, ``(N, D) x (D, M)``, that ``torch.func.jacfwd`` spends on
#: the zero tangent of ``W`` when it differentiates ``X @ W + b`` with respect to ``X`` only:
#: PyTorch's forward-mode rule for ``mm`` evaluates both terms of ``d(XW) = dX W + X dW``, the
#: second with a materialized zero ``dW``. A PyTorch artefact, not a cost of forward mode (which
#: needs ``dX W`` only); counted on the torch version :data:`JACFWD_VERIFIED_TORCH` (the book's
#: pin) by ``tests/test_cost.py`` and chapter 6, whose asserts fail on a version that changes it.
JACFWD_ZERO_PRODUCTS = 1
#: The torch version (major.minor) on which :data:`JACFWD_ZERO_PRODUCTS` was counted.
JACFWD_VERIFIED_TORCH = "2.13"

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
    """Bytes of an explicit Jacobian read from the tensor, after checking its shape.

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

    Notes
    -----
    For a dense tensor of the checked shape this equals :func:`jacobian_bytes` by
    construction; what the builder really allocates is measured by :func:`peak_bytes`.
    """
    check_shape("checked_jacobian_bytes", "J", J, (N, M, N, D), "(N, M, N, D)")
    return tensor_bytes(J)


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
    stderr : float
        Standard error of the slope from the residuals of the fit,
        ``sqrt(sum(residual**2) / (n - 2) / sum((log x - mean)**2))``; ``nan`` with two
        points (a line through two points has no residual to estimate it from).
    n : int
        Number of points fitted.
    """

    slope: float
    intercept: float
    stderr: float = float("nan")
    n: int = 0

    def predict(self, x: float) -> float:
        """Extrapolate (or interpolate) the fit: ``exp(intercept) * x**slope``, for ``x > 0``."""
        if not x > 0:
            raise ValueError(f"PowerLaw.predict: x must be positive, got {x!r}")
        return math.exp(self.intercept + self.slope * math.log(x))


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> PowerLaw:
    """Least-squares fit of ``log y = intercept + slope * log x``, with the slope's standard error.

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
    intercept = my - slope * mx
    n = len(xs)
    stderr = float("nan")
    if n > 2:
        rss = sum((c - intercept - slope * a) ** 2 for a, c in zip(lx, ly))
        stderr = math.sqrt(rss / (n - 2) / sxx)
    return PowerLaw(slope=slope, intercept=intercept, stderr=stderr, n=n)


# --- exact counts ------------------------------------------------------------------------

def method_flops(name: str, N: int, D: int, M: int) -> int:
    """Exact FLOPs of a method's matrix products, as ``FlopCounterMode`` counts them.

    Two FLOPs per multiply-add; additions outside matrix products (the bias, ``db``) are
    not counted, as ``FlopCounterMode`` does not count them.

    - ``"helpers.jacobian"``: the forward pass ``2NDM`` plus ``NM`` VJPs of ``2NDM``;
    - ``"jacrev"``: the forward pass plus one batched product, ``2 N**2 D M**2``;
    - ``"jacfwd"``: one batched product ``2 N**2 D**2 M``, the forward pass itself, and
      :data:`JACFWD_ZERO_PRODUCTS` more products of the forward pass's size: the product
      rule's term ``X @ dW`` with the zero tangent ``dW`` of ``W``, a PyTorch artefact
      (its forward rule for ``mm`` evaluates both terms of ``d(XW) = dX W + X dW``),
      counted on torch :data:`JACFWD_VERIFIED_TORCH`;
    - ``"closed-form VJP"``, ``"autograd backward"``: ``G @ W.T`` and ``X.T @ G``, ``4NDM``.

    Parameters
    ----------
    name : str
        A method name from :func:`jacobian_methods` or :func:`vjp_methods`.
    N, D, M : int
        The layer's sizes.

    Returns
    -------
    int
    """
    for nm, v in (("N", N), ("D", D), ("M", M)):
        _positive_int("method_flops", nm, v)
    layer = 2 * N * D * M
    counts = {"helpers.jacobian": layer + N * M * layer,
              "jacrev": layer + 2 * N**2 * D * M**2,
              "jacfwd": (1 + JACFWD_ZERO_PRODUCTS) * layer + 2 * N**2 * D**2 * M,
              "closed-form VJP": 2 * layer,
              "autograd backward": 2 * layer}
    if name not in counts:
        raise ValueError(f"method_flops: unknown method {name!r}, expected one of {list(counts)}")
    return counts[name]


def method_calls(name: str, N: int, D: int, M: int) -> int:
    """Number of matrix-product kernel calls a method makes (``helpers.jacobian``: ``NM + 1``).

    Parameters
    ----------
    name : str
        A method name from :func:`jacobian_methods` or :func:`vjp_methods`.
    N, D, M : int
        The layer's sizes.

    Returns
    -------
    int
    """
    calls = {"helpers.jacobian": N * M + 1, "jacrev": 2, "jacfwd": 2 + JACFWD_ZERO_PRODUCTS,
             "closed-form VJP": 2, "autograd backward": 2}
    if name not in calls:
        raise ValueError(f"method_calls: unknown method {name!r}, expected one of {list(calls)}")
    return calls[name]


def matmul_shapes(fn: Callable[[], object]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The operand shapes of every matrix product (``aten.mm``/``bmm``) ``fn()`` runs.

    Recorded with a :class:`torch.utils._python_dispatch.TorchDispatchMode`, i.e. the
    products the kernels really compute, after ``torch.func`` has batched them.

    Returns
    -------
    list of (shape, shape)
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    calls: list = []

    class _Log(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in (torch.ops.aten.mm.default, torch.ops.aten.bmm.default,
                        torch.ops.aten.addmm.default):
                a, b_ = args[-2], args[-1]
                calls.append((tuple(a.shape), tuple(b_.shape)))
            return func(*args, **(kwargs or {}))

    with _Log():
        fn()
    return calls


# --- measured memory ---------------------------------------------------------------------

@contextmanager
def _quiet_stderr_fd():
    """Silence file descriptor 2 (the profiler's C++ start/stop log lines) for a moment."""
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
    except (AttributeError, OSError, ValueError):
        fd = 2
    try:
        saved = os.dup(fd)
    except OSError:  # no file descriptor 2 to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def peak_bytes(fn: Callable[[], object]) -> tuple[int, object]:
    """The CPU allocator's peak during ``fn()``, measured, and ``fn()``'s result.

    PyTorch's profiler (``profile_memory=True``) records one event per allocation and
    per free made through PyTorch's CPU allocator, with its address and size. Summed in
    time order they give the bytes allocated since the call began; the peak of that running
    sum is returned. Tensors that existed before the call (the layer's ``X``, ``W``, ``G``)
    are not counted, and neither is their release during the call: only the release of a
    block allocated during the call lowers the sum. (The profiler remembers the sizes of
    blocks it saw in earlier sessions by address; a block made outside profiling at a reused
    address would otherwise be "freed" with a stale size, and the peak would change from run
    to run.) The result, still alive when the call returns, is counted. Buffers the BLAS library allocates on its own (outside PyTorch's
    allocator) are not seen. Deterministic: it counts bytes, not pages, so unlike a
    process's peak resident memory it does not depend on the allocator's caching or on
    the operating system.

    It reads the profiler's raw results through private interfaces
    (``torch.autograd._enable_profiler``, ``experimental_event_tree``), skipping the
    costly construction of the profiler's event tables; checked on the pinned torch
    version by ``tests/test_cost.py``. The profiler's C++ start/stop log lines, written
    to file descriptor 2, are silenced during the call. Python's cyclic garbage collector
    is paused during the call, so that no collection releases memory at an unpredictable
    moment.

    Parameters
    ----------
    fn : callable
        Called once, with no arguments.

    Returns
    -------
    (int, object)
        Peak bytes (at least 0) and the value ``fn()`` returned.
    """
    from torch._C._profiler import _EventType, _ExperimentalConfig
    from torch.autograd import (ProfilerActivity, ProfilerConfig, ProfilerState,
                                _disable_profiler, _enable_profiler, _prepare_profiler)

    config = ProfilerConfig(ProfilerState.KINETO, False, True, False, False, False,
                            _ExperimentalConfig())
    activities = {ProfilerActivity.CPU}
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with _quiet_stderr_fd():
            _prepare_profiler(config, activities)
            _enable_profiler(config, activities)
            try:
                out = fn()
            finally:
                result = _disable_profiler()
    finally:
        if was_enabled:
            gc.enable()
    events = []
    stack = list(result.experimental_event_tree())
    while stack:
        e = stack.pop()
        if e.typed[0] == _EventType.Allocation and str(e.typed[1].device) == "cpu":
            events.append((e.start_time_ns, e.typed[1].alloc_size, e.typed[1].ptr))
        stack.extend(e.children)
    events.sort(key=lambda ev: ev[0])
    current = peak = 0
    live: dict[int, int] = {}           # address -> size of the blocks allocated in the call
    for _, size, ptr in events:
        if size > 0:
            live[ptr] = size
            current += size
            peak = max(peak, current)
        elif ptr in live:               # a block of the call released; others are not ours
            current -= live.pop(ptr)
    return peak, out


@dataclass(frozen=True)
class SavedTensors:
    """What autograd saved for the backward pass during a forward pass.

    Attributes
    ----------
    total : int
        Bytes of the distinct storages saved (a tensor saved twice counts once).
    new : int
        Of those, the bytes of storages not in ``exclude`` (parameters and inputs, which
        exist anyway): the memory the forward pass keeps alive only for the backward pass.
    shapes : list of tuple
        ``(shape, nbytes, is_new)`` of every distinct saved storage, in saving order.
    result : object
        What the forward function returned.
    """

    total: int
    new: int
    shapes: list = field(default_factory=list)
    result: object = None


def saved_for_backward(fn: Callable[[], object], exclude: Sequence[torch.Tensor] = ()
                       ) -> SavedTensors:
    """Run ``fn()`` and measure the tensors autograd saves for the backward pass.

    Uses :func:`torch.autograd.graph.saved_tensors_hooks`: every tensor an operation
    saves passes through the pack hook, which records its storage (pointer and bytes).

    Parameters
    ----------
    fn : callable
        The forward computation, with inputs that require grad.
    exclude : sequence of torch.Tensor
        Tensors whose storages exist anyway (parameters, the batch): counted in
        ``total`` but not in ``new``.

    Returns
    -------
    SavedTensors
    """
    known = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, tuple] = {}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in seen:
            seen[st.data_ptr()] = (tuple(t.shape), st.nbytes(), st.data_ptr() not in known)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    shapes = list(seen.values())
    return SavedTensors(total=sum(nb for _, nb, _ in shapes),
                        new=sum(nb for _, nb, is_new in shapes if is_new),
                        shapes=shapes, result=out)


# --- the fitting rule ----------------------------------------------------------------------

#: A fit needs at least this many distinct scales ...
MIN_FIT_POINTS = 3
#: ... spanning at least this factor (largest / smallest scale) ...
MIN_FIT_SPAN = 2.0
#: ... among the scales where each matrix-product call does at least this many FLOPs: below
#: it, a call's fixed cost (tens of microseconds) outweighs its arithmetic, and the time
#: follows the number of calls rather than the work.
MIN_FLOPS_PER_CALL = 10**6
#: A fitted time slope is extrapolated only if it lies within this of the theory.
MAX_SLOPE_DEVIATION = 0.5


def fit_method(rows: Sequence[dict], quantity: str = "seconds"):
    """The book's one rule for fitting a method's slope (chapter 6's appendix and the benchmark).

    Keep the rows whose work per matrix-product call, ``method_flops / method_calls``,
    is at least :data:`MIN_FLOPS_PER_CALL`; fit only if at least :data:`MIN_FIT_POINTS`
    distinct scales remain and they span at least :data:`MIN_FIT_SPAN`.

    Parameters
    ----------
    rows : sequence of dict
        :func:`sweep` rows of one method.
    quantity : str
        The field to fit (``"seconds"``, ``"bytes"`` or ``"peak"``).

    Returns
    -------
    (PowerLaw or None, list of int, str)
        The fit (``None`` if the rule refuses it), the scales it used (or would have),
        and the reason in words.
    """
    if not rows:
        raise ValueError("fit_method: no rows")
    names = {r["method"] for r in rows}
    if len(names) != 1:
        raise ValueError(f"fit_method: rows of one method expected, got {sorted(names)}")
    use = [r for r in rows
           if method_flops(r["method"], r["N"], r["D"], r["M"])
           / method_calls(r["method"], r["N"], r["D"], r["M"]) >= MIN_FLOPS_PER_CALL]
    scales = sorted({r["s"] for r in use})
    if len(scales) < MIN_FIT_POINTS:
        return None, scales, (f"only {len(scales)} scale(s) with >= {MIN_FLOPS_PER_CALL:.0e} "
                              f"FLOPs per call (need {MIN_FIT_POINTS})")
    if scales[-1] / scales[0] < MIN_FIT_SPAN:
        return None, scales, (f"scales {scales[0]}..{scales[-1]} span "
                              f"{scales[-1] / scales[0]:.2g}x < {MIN_FIT_SPAN:g}x")
    law = fit_power_law([r["s"] for r in use], [r[quantity] for r in use])
    return law, scales, f"{len(scales)} scales spanning {scales[-1] / scales[0]:.3g}x"


def extrapolate_seconds(rows: Sequence[dict], target_s: int, theory: float,
                        ratio: int = 64) -> dict:
    """Time of a method at scale ``target_s``, from a fit only if the fit is trustworthy.

    If :func:`fit_method` supports a fit and its slope is within
    :data:`MAX_SLOPE_DEVIATION` of ``theory``, the fit is extrapolated (``basis="fit"``).
    Otherwise the prediction is anchored on the exact count (``basis="count"``): the
    measured seconds per FLOP at the largest scale measured times
    :func:`method_flops` at ``target_s``.

    Returns
    -------
    dict
        ``seconds``, ``basis`` (``"fit"`` or ``"count"``), ``law`` (PowerLaw or None),
        ``scales`` (used by the fit), ``reason``.
    """
    law, scales, reason = fit_method(rows, "seconds")
    N, D, M = layer_shape(target_s, ratio)
    name = rows[0]["method"]
    if law is not None and abs(law.slope - theory) <= MAX_SLOPE_DEVIATION:
        return {"seconds": law.predict(target_s), "basis": "fit", "law": law,
                "scales": scales, "reason": reason}
    if law is not None:
        reason = (f"fitted slope {law.slope:.2f} is more than {MAX_SLOPE_DEVIATION} "
                  f"from theory {theory}")
    last = max(rows, key=lambda r: r["s"])
    per_flop = last["seconds"] / method_flops(name, last["N"], last["D"], last["M"])
    return {"seconds": per_flop * method_flops(name, N, D, M), "basis": "count", "law": law,
            "scales": scales, "reason": reason, "anchor_s": last["s"]}


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
          dtype: torch.dtype = torch.float32, repeats: int = 7, warmup: int = 1,
          max_bytes: int = 500 * 10**6, progress: Callable[[Iterable], Iterable] | None = None,
          ) -> list[dict]:
    """Time and measure every method at every scale ``s`` on the ray :func:`layer_shape`.

    For each ``s`` a fresh layer is made with :func:`make_layer`. Each method is
    prepared once (:attr:`Method.prepare`, untimed: the same rule wherever the book
    times a method), run once untimed (warm-up; its result's shapes are checked and its
    bytes read by :func:`checked_jacobian_bytes` or :func:`checked_vjp_bytes`), run
    once more under :func:`peak_bytes` to measure the allocator's peak, then timed:
    the median of ``repeats`` runs (:func:`median_times`).

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
        ``dtype``, ``bytes`` (the Jacobian's, or what the VJP reads and writes:
        :func:`vjp_bytes`), ``peak`` (measured by :func:`peak_bytes`: what the call
        allocates at its peak), ``flops`` (:func:`method_flops`), ``seconds`` (the
        median) and ``seconds_min`` (the fastest run: on a shared machine the run least
        disturbed by other programs, the robust basis for asserting a speed claim).
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
        peak, out = peak_bytes(run)
        del out
        # the two untimed calls above were warm-up runs
        samples = timing_samples({method.name: run}, repeats=repeats,
                                 warmup=max(warmup - 2, 0))[method.name]
        seconds = statistics.median(samples)
        rows.append({"method": method.name, "kind": method.kind, "s": s, "N": N, "D": D,
                     "M": M, "dtype": str(dtype).replace("torch.", ""), "bytes": nbytes,
                     "peak": peak, "flops": method_flops(method.name, N, D, M),
                     "seconds": seconds, "seconds_min": min(samples)})
    return rows


def plot_sweep(rows: Sequence[dict], quantity: str = "seconds", ax=None, *,
               methods: Sequence[str] | None = None, fit: bool = True):
    """Log-log plot of time or bytes against the scale ``s``, one line per method.

    Each method gets an Okabe-Ito colour and its own marker; with ``fit=True`` the
    fitted power law is drawn dashed and its slope (with its standard error) written in
    the legend: for ``"seconds"`` only where :func:`fit_method`'s rule supports a fit,
    for ``"bytes"`` and ``"peak"`` (exact counts, no noise) through every point.

    Parameters
    ----------
    rows : sequence of dict
        Rows from :func:`sweep`.
    quantity : {"seconds", "bytes", "peak"}
        What to plot on the y axis.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made if omitted.
    methods : sequence of str, optional
        Which methods to draw, in this order; all of them by default.
    fit : bool
        Draw the fitted lines.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if quantity not in ("seconds", "bytes", "peak"):
        raise ValueError(f"plot_sweep: quantity must be 'seconds', 'bytes' or 'peak', "
                         f"got {quantity!r}")
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
        law, used = None, []
        if fit and quantity == "seconds":
            law, used, _ = fit_method(sel, quantity)
        elif fit and len(set(xs)) >= 2:
            law, used = fit_power_law(xs, ys), sorted(set(xs))
        if law is not None:
            err = "" if math.isnan(law.stderr) else f" ± {law.stderr:.2f}"
            label = f"{name} (slope {law.slope:.2f}{err})"
            ax.plot(used, [law.predict(x) for x in used], "--", color=colour, lw=1)
        ax.plot(xs, ys, markers[i % len(markers)], color=colour, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size N on the ray (N, D, M) = (N, 64 N, 64 N)"
                  if rows and rows[0]["D"] == 64 * rows[0]["s"] else "scale s (the batch size N)")
    ax.set_ylabel({"seconds": "median time (s)", "bytes": "bytes (formula)",
                   "peak": "measured peak bytes"}[quantity])
    ax.legend(fontsize=8, frameon=False)
    return ax
