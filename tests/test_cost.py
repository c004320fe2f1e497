"""Tests of helpers.cost and of benchmarks/jacobian_cost.py (at tiny sizes: not timing tests)."""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import pytest
import torch

from helpers import jacobian, linear_vjp
from helpers.cost import (
    PowerLaw,
    checked_jacobian_bytes,
    checked_vjp_bytes,
    fit_power_law,
    jacobian_bytes,
    jacobian_methods,
    layer_shape,
    make_layer,
    median_time,
    median_times,
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
                     "--vjp-scales", "1,2", "--fit-from", "1", "--repeats", "1",
                     "--ratio-shapes", "2x8x8,3x4x5", "--ratio-repeats", "2",
                     "--ratio-warmup", "0", "--ratio-seconds", "0"])
    assert rc == 0
    for name in ("sweep.csv", "fits.csv", "ratio.csv", "time.png", "bytes.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    with (tmp_path / "sweep.csv").open() as fh:
        sweep_rows = list(csv.DictReader(fh))
    assert len(sweep_rows) == 2 * 1 + 2 * 2 + 2 * 2
    with (tmp_path / "fits.csv").open() as fh:
        fits = {r["method"]: r for r in csv.DictReader(fh)}
    assert float(fits["jacrev"]["bytes_slope"]) == pytest.approx(4.0, abs=1e-9)
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
    ax = plot_sweep(rows, "bytes", fit_from=2)
    assert "slope 4.00" in ax.get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError):
        plot_sweep(rows, "memory", ax)
    with pytest.raises(ValueError):
        plot_sweep(rows, "seconds", ax, methods=["absent"])
    plt.close("all")
