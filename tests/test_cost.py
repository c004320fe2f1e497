"""Tests of helpers.cost and of benchmarks/jacobian_cost.py (at tiny sizes: not timing tests)."""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import pytest
import torch

from helpers import jacobian, linear_vjp
from torch.utils.flop_counter import FlopCounterMode

from helpers.cost import (
    JACFWD_VERIFIED_TORCH,
    JACFWD_ZERO_PRODUCTS,
    MIN_FLOPS_PER_CALL,
    PowerLaw,
    checked_jacobian_bytes,
    checked_vjp_bytes,
    extrapolate_seconds,
    fit_method,
    fit_power_law,
    jacobian_bytes,
    jacobian_methods,
    layer_shape,
    make_layer,
    matmul_shapes,
    median_time,
    median_times,
    method_calls,
    method_flops,
    peak_bytes,
    saved_for_backward,
    sweep,
    tensor_bytes,
    timing_samples,
    vjp_bytes,
    vjp_methods,
)

ROOT = Path(__file__).resolve().parents[1]


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("jacobian_cost_bench",
                                                  ROOT / "benchmarks" / "jacobian_cost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- slope fitting -----------------------------------------------------------------------

@pytest.mark.parametrize("slope, c", [(4.0, 4.0), (3.0, 1e-9), (-1.5, 2.0), (0.0, 7.0)])
def test_fit_recovers_exact_power_law(slope, c):
    xs = [1, 2, 3, 5, 8, 13]
    law = fit_power_law(xs, [c * x**slope for x in xs])
    assert law.slope == pytest.approx(slope, abs=1e-12)
    assert math.exp(law.intercept) == pytest.approx(c, rel=1e-12)
    assert law.predict(64) == pytest.approx(c * 64**slope, rel=1e-10)


def test_fit_with_noise_is_close():
    gen = torch.Generator().manual_seed(0)
    xs = [2.0**k for k in range(8)]
    noise = torch.exp(0.05 * torch.randn(len(xs), dtype=torch.float64, generator=gen))
    law = fit_power_law(xs, [3.0 * x**3 * float(e) for x, e in zip(xs, noise)])
    assert abs(law.slope - 3.0) < 0.05


def test_fit_of_jacobian_bytes_on_the_ray_is_four():
    scales = [1, 2, 3, 4, 6]
    law = fit_power_law(scales, [jacobian_bytes(*layer_shape(s), 4) for s in scales])
    assert law.slope == pytest.approx(4.0, abs=1e-12)
    assert law.predict(64) == pytest.approx(jacobian_bytes(64, 4096, 4096, 4), rel=1e-12)


@pytest.mark.parametrize("x, y", [
    ([1, 2], [1]),            # lengths differ
    ([1], [1]),               # one point
    ([1, 2], [0, 1]),         # zero
    ([-1, 2], [1, 1]),        # negative
    ([2, 2, 2], [1, 2, 3]),   # all x equal
    ([1, float("inf")], [1, 2]),
])
def test_fit_rejects_bad_input(x, y):
    with pytest.raises(ValueError):
        fit_power_law(x, y)


def test_predict_rejects_non_positive():
    with pytest.raises(ValueError):
        PowerLaw(2.0, 0.0).predict(0)


# --- bytes --------------------------------------------------------------------------------

def test_bytes_formulas():
    # the handout's example: 64*4096*64*4096 float32 numbers = 2**38 bytes = 256 GiB
    assert jacobian_bytes(64, 4096, 4096, 4) == 256 * 2**30 == 2**38
    assert jacobian_bytes(2, 3, 5, 8) == 2 * 5 * 2 * 3 * 8
    # reads G (2x5), X (2x3), W (3x5); writes dX (2x3), dW (3x5), db (5,)
    assert vjp_bytes(2, 3, 5, 8) == (10 + 6 + 15 + 6 + 15 + 5) * 8
    # the handout's layer: 64x4096 G, X, dX; 4096x4096 W, dW; 4096 db, float32
    assert vjp_bytes(64, 4096, 4096, 4) == (3 * 64 * 4096 + 2 * 4096**2 + 4096) * 4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bytes_from_tensors_equal_formula(dtype):
    N, D, M = 2, 3, 5
    X, W, b, G = make_layer(N, D, M, dtype=dtype)
    J = jacobian(lambda X_: X_ @ W + b, X)
    item = torch.empty((), dtype=dtype).element_size()
    assert checked_jacobian_bytes(J, N, D, M) == N * M * N * D * item == tensor_bytes(J)
    assert checked_vjp_bytes(G, X, W, linear_vjp(G, X, W), N, D, M) == vjp_bytes(N, D, M, item)


def test_bytes_reject_bad_input():
    with pytest.raises(ValueError):
        jacobian_bytes(0, 3, 4, 4)
    with pytest.raises(ValueError):
        vjp_bytes(2, 3, 4, -8)
    with pytest.raises(ValueError):
        jacobian_bytes(2.0, 3, 4, 4)
    with pytest.raises(ValueError, match=r"\(2, 3, 2, 4\)"):  # names the expected shape
        checked_jacobian_bytes(torch.zeros(2, 3, 4, 2), 2, 4, 3)
    X, W, b, G = make_layer(2, 4, 3)
    with pytest.raises(ValueError):
        checked_vjp_bytes(G, X, W, linear_vjp(G, X, W)[:2], 2, 4, 3)
    with pytest.raises(ValueError, match=r"\(4, 3\)"):  # W of the wrong shape
        checked_vjp_bytes(G, X, W.T, linear_vjp(G, X, W), 2, 4, 3)
    with pytest.raises(TypeError):
        tensor_bytes([1.0, 2.0])


# --- timing and sweep ---------------------------------------------------------------------

def test_median_time_counts_calls():
    calls = []
    t = median_time(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7 and t >= 0
    meds = median_times({"a": lambda: calls.append("a"), "b": lambda: None}, repeats=3, warmup=0)
    assert set(meds) == {"a", "b"} and calls.count("a") == 3
    samples = timing_samples({"c": lambda: calls.append("c")}, repeats=4, warmup=1)
    assert len(samples["c"]) == 4 and calls.count("c") == 5 and min(samples["c"]) >= 0


@pytest.mark.parametrize("kwargs", [{"repeats": 0}, {"warmup": -1}, {"repeats": 1.5}])
def test_median_time_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        median_time(lambda: None, **kwargs)


def test_layer_shape():
    assert layer_shape(64) == (64, 4096, 4096)
    assert layer_shape(3, ratio=2) == (3, 6, 6)
    with pytest.raises(ValueError):
        layer_shape(0)


def test_sweep_rows_and_methods_agree():
    rows = sweep([1, 2], jacobian_methods() + vjp_methods(), ratio=2, repeats=1, warmup=0)
    assert len(rows) == 2 * 5
    for r in rows:
        N, D, M = r["N"], r["D"], r["M"]
        expected = jacobian_bytes(N, D, M, 4) if r["kind"] == "jacobian" else vjp_bytes(N, D, M, 4)
        assert r["bytes"] == expected and r["seconds"] > 0
        assert r["flops"] == method_flops(r["method"], N, D, M)
        if r["kind"] == "jacobian":  # the Jacobian is allocated during the call
            assert r["peak"] >= r["bytes"]
        else:  # X, W, G exist before the call: it allocates at least dX, dW, db
            assert r["peak"] >= (N * D + D * M + M) * 4
    # the three builders give the same Jacobian, the two VJPs the same gradients
    N, D, M = layer_shape(2, ratio=2)
    X, W, b, G = make_layer(N, D, M, dtype=torch.float64)
    Js = [m.prepare(X, W, b, G)() for m in jacobian_methods()]
    for J in Js[1:]:
        torch.testing.assert_close(J, Js[0])
    closed, auto = (m.prepare(X, W, b, G)() for m in vjp_methods())
    for g_closed, g_auto in zip(closed, auto):
        torch.testing.assert_close(g_closed, g_auto)


def test_sweep_refuses_huge_jacobian_before_allocating():
    with pytest.raises(ValueError, match="max_bytes"):
        sweep([64], jacobian_methods(include_loop=False))


# --- the benchmark ------------------------------------------------------------------------

def test_benchmark_main_runs_at_tiny_sizes(tmp_path, capsys):
    bench = _load_benchmark()
    rc = bench.main(["--out", str(tmp_path), "--loop-scales", "1,2", "--jac-scales", "1,2",
                     "--vjp-scales", "1,2", "--repeats", "1",
                     "--ratio-shapes", "2x8x8,3x4x5", "--ratio-repeats", "2",
                     "--ratio-warmup", "0", "--ratio-seconds", "0", "--cheap-shape", "4x8x8"])
    assert rc == 0
    for name in ("sweep.csv", "fits.csv", "ratio.csv", "table.md", "cheap_gradient.csv",
                 "time.png", "bytes.png", "peak.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    with (tmp_path / "sweep.csv").open() as fh:
        sweep_rows = list(csv.DictReader(fh))
    assert len(sweep_rows) == 2 * 1 + 2 * 2 + 2 * 2
    assert all(int(r["peak"]) > 0 for r in sweep_rows)
    with (tmp_path / "fits.csv").open() as fh:
        fits = {r["method"]: r for r in csv.DictReader(fh)}
    # tiny scales: no fit is supported, so nothing is extrapolated from a fit
    assert all(r["basis"] == "count" and r["fit_scales"] == "" for r in fits.values())
    table = (tmp_path / "table.md").read_text()
    assert "infeasible: needs" in table and "no fit" in table
    with (tmp_path / "cheap_gradient.csv").open() as fh:
        (cheap,) = list(csv.DictReader(fh))
    assert float(cheap["flop_ratio"]) == 2.0
    with (tmp_path / "ratio.csv").open() as fh:
        ratios = list(csv.DictReader(fh))
    assert [(int(r["N"]), int(r["D"]), int(r["M"])) for r in ratios] == [(2, 8, 8), (3, 4, 5)]
    out = capsys.readouterr().out
    assert "closed-form VJP / autograd backward" in out and "274877906944" in out


def test_plot_sweep_draws_and_rejects_bad_input():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.cost import plot_sweep

    rows = [{"method": "m", "s": s, "D": 64 * s, "seconds": 1e-3 * s**3, "bytes": 4 * s**4}
            for s in (1, 2, 4)]
    ax = plot_sweep(rows, "bytes")
    assert "slope 4.00" in ax.get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError):
        plot_sweep(rows, "memory", ax)
    with pytest.raises(ValueError):
        plot_sweep(rows, "seconds", ax, methods=["absent"])
    plt.close("all")


# --- exact counts, measured memory, the fitting rule ----------------------------------------

@pytest.mark.parametrize("shape", [(3, 4, 2), (2, 5, 3), (1, 1, 4)])
def test_method_flops_match_the_flop_counter(shape):
    N, D, M = shape
    X, W, b, G = make_layer(N, D, M, dtype=torch.float64)
    for m in jacobian_methods() + vjp_methods():
        run = m.prepare(X, W, b, G)
        counter = FlopCounterMode(display=False)
        with counter:
            run()
        assert counter.get_total_flops() == method_flops(m.name, N, D, M), m.name
        assert len(matmul_shapes(run)) == method_calls(m.name, N, D, M), m.name
    with pytest.raises(ValueError, match="unknown method"):
        method_flops("jacobian by hand", N, D, M)


def test_jacfwd_extra_products_are_forward_and_zero_tangent():
    """The zero-tangent product is a PyTorch artefact, counted on the pinned version: this
    test (with chapter 6's asserts) is what ties JACFWD_ZERO_PRODUCTS to that version."""
    assert torch.__version__.startswith(JACFWD_VERIFIED_TORCH + "."), (
        f"JACFWD_ZERO_PRODUCTS was counted on torch {JACFWD_VERIFIED_TORCH}, this is "
        f"{torch.__version__}: recount it (this test and chapter 6 show how)")
    X, W, b, G = make_layer(3, 4, 2, dtype=torch.float64)
    shapes = matmul_shapes(lambda: torch.func.jacfwd(lambda X_: X_ @ W + b)(X))
    assert shapes.count(((3, 4), (4, 2))) == 1 + JACFWD_ZERO_PRODUCTS
    assert ((3 * 12, 4), (4, 2)) in shapes
    # the artefact is the zero tangent of W: forward mode itself needs dX W only
    _, tangent = torch.func.jvp(lambda X_: X_ @ W + b, (X,), (torch.ones_like(X),))
    torch.testing.assert_close(tangent, torch.ones_like(X) @ W)


def test_peak_bytes_sees_temporaries_and_the_result():
    n = 1000

    def temporaries():
        a = torch.ones(n, dtype=torch.float64)   # 8000 bytes, freed on return
        b_ = torch.ones(n, dtype=torch.float64)  # 8000 bytes, returned
        return b_ + 0 * a[0]

    peak, out = peak_bytes(temporaries)
    assert out.shape == (n,)
    # a and b_ and the result alive together: at least 3 * 8000 bytes, no more than a bit over
    assert 3 * 8 * n <= peak <= 3 * 8 * n + 1024
    assert peak_bytes(lambda: None)[0] == 0
    N, D, M = 2, 128, 128
    X, W, b, G = make_layer(N, D, M)
    peak_rev, J = peak_bytes(lambda: torch.func.jacrev(lambda X_: X_ @ W + b)(X))
    # jacrev holds the one-hot basis (N M x N M) and the Jacobian (N M x N D) at once
    assert peak_rev >= 1.9 * jacobian_bytes(N, D, M, 4) and J.shape == (N, M, N, D)


def test_peak_bytes_counts_only_the_calls_own_blocks():
    """Releasing, during the call, a block made before it must not lower the sum. The
    profiler remembers sizes by address from earlier sessions, so a block made outside
    profiling at a reused address was once "freed" with a stale size (chapter 6's
    checkpointing peaks changed from run to run)."""
    import gc

    for _ in range(5):
        keep = peak_bytes(lambda: torch.ones(1000, dtype=torch.float64))[1]  # seen by the profiler
        del keep                                # freed outside it: a stale entry for its address
        olds = [torch.ones(1000, dtype=torch.float64) for _ in range(8)]    # may reuse the address

        def release_then_allocate():
            olds.clear()                        # blocks made before the call: not its memory
            return torch.ones(1000, dtype=torch.float64)

        assert peak_bytes(release_then_allocate)[0] == 8000
    assert peak_bytes(lambda: gc.isenabled())[1] is False and gc.isenabled()


def test_saved_for_backward_linear_and_mlp():
    from helpers.mlp import init_mlp, mlp_forward
    N, D, M = 5, 3, 4
    X = torch.randn(N, D, dtype=torch.float64)
    W = torch.randn(D, M, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(M, dtype=torch.float64, requires_grad=True)
    st = saved_for_backward(lambda: X @ W + b, exclude=(X, W, b))
    assert st.total == N * D * 8 and st.new == 0  # only X, for dW = X.T @ G
    Xr = X.clone().requires_grad_(True)
    st = saved_for_backward(lambda: Xr @ W + b, exclude=(Xr, W, b))
    assert st.total == (N * D + D * M) * 8  # X for dW and W for dX
    p = {k: v.requires_grad_(True) for k, v in init_mlp(D, 6, 2).items()}
    st = saved_for_backward(lambda: mlp_forward(X, p)["Z2"], exclude=[X, *p.values()])
    assert st.new == N * 6 * 8  # the hidden activation A1 (ReLU output, saved once)


def _rows(name, scales, seconds):
    return [{"method": name, "kind": "vjp", "s": s, "N": s, "D": 64 * s, "M": 64 * s,
             "seconds": t} for s, t in zip(scales, seconds)]


def test_fit_method_rule():
    # the VJP does 2 products of 2 N D M = 8192 s**3 FLOPs: s >= 5 passes the per-call rule
    assert 2 * 5 * 320 * 320 >= MIN_FLOPS_PER_CALL > 2 * 4 * 256 * 256
    law, scales, _ = fit_method(_rows("closed-form VJP", [8, 12, 16], [1e-3 * (s / 8) ** 3
                                                                       for s in (8, 12, 16)]))
    assert scales == [8, 12, 16] and law.slope == pytest.approx(3.0)
    law, scales, why = fit_method(_rows("closed-form VJP", [1, 2, 4, 8, 16], [1.0] * 5))
    assert law is None and scales == [8, 16] and "need 3" in why
    law, _, why = fit_method(_rows("closed-form VJP", [10, 12, 14], [1.0, 2.0, 3.0]))
    assert law is None and "span" in why


def test_extrapolation_uses_fit_only_near_theory():
    scales = [8, 16, 32]
    good = extrapolate_seconds(_rows("closed-form VJP", scales, [1e-3 * (s / 8) ** 3.2
                                                                 for s in scales]), 64, 3)
    assert good["basis"] == "fit" and good["seconds"] == pytest.approx(1e-3 * 8**3.2)
    bad_rows = _rows("closed-form VJP", scales, [1e-3 * (s / 8) ** 4 for s in scales])
    bad = extrapolate_seconds(bad_rows, 64, 3)
    assert bad["basis"] == "count" and "more than 0.5" in bad["reason"]
    # count-anchored: seconds per FLOP at s = 32, times the FLOPs at s = 64 (8x)
    assert bad["seconds"] == pytest.approx(bad_rows[-1]["seconds"] * 8)


def test_fit_stderr():
    law = fit_power_law([1, 2, 4, 8], [1, 2, 4, 8])
    assert law.stderr == pytest.approx(0.0, abs=1e-12) and law.n == 4
    assert math.isnan(fit_power_law([1, 2], [1, 3]).stderr)
    noisy = fit_power_law([1, 2, 4, 8], [1, 2.5, 3.5, 9])
    assert 0 < noisy.stderr < 0.5
