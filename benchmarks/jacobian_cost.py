"""Benchmark: what building the explicit Jacobian of a linear layer costs, against a VJP.

Run by ``make bench`` (or ``.venv/bin/python benchmarks/jacobian_cost.py``). The same
measurements as chapter 6, over a larger sweep, with the functions of
:mod:`helpers.cost`:

1. the explicit dY/dX built three ways (``helpers.jacobian``, ``torch.func.jacrev``,
   ``torch.func.jacfwd``) and the VJP computed two ways (closed form, autograd backward),
   on the ray ``(N, D, M) = (s, 64 s, 64 s)``: median time and bytes (read from the
   tensors, asserted equal to the formulas);
2. log-log slopes fitted to each, next to the theoretical ones, extrapolated to
   ``s = 64``, i.e. ``N = 64, D = M = 4096``;
3. the closed-form VJP's median time divided by autograd's backward at
   ``N = 64, D = M = 1024`` and ``N = 64, D = M = 4096`` (both compute the same two
   matrix products and one sum; the goal is a ratio <= 1.1): medians of at least 30
   interleaved runs each, after 3 warm-up runs.

Writes ``sweep.csv``, ``ratio.csv``, ``time.png`` and ``bytes.png`` to the results
folder (``benchmarks/results/``, git-ignored) and prints a summary table.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from helpers.cost import (  # noqa: E402
    RAY_SLOPES,
    fit_power_law,
    fit_threshold,
    jacobian_bytes,
    jacobian_methods,
    layer_shape,
    make_layer,
    median_times,
    plot_sweep,
    sweep,
    timing_samples,
    vjp_bytes,
    vjp_methods,
)

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_S = 64  # (N, D, M) = (64, 4096, 4096), the handout's example


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _shapes(text: str) -> list[tuple[int, int, int]]:
    shapes = []
    for part in text.split(","):
        dims = part.lower().split("x")
        if len(dims) != 3 or not all(d.isdigit() and int(d) > 0 for d in dims):
            raise argparse.ArgumentTypeError(f"expected shapes like 64x1024x1024, got {part!r}")
        shapes.append(tuple(int(d) for d in dims))
    return shapes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    p.add_argument("--loop-scales", type=_ints, default=[1, 2, 3, 4, 5],
                   help="scales s for helpers.jacobian (one Python-level VJP per output)")
    p.add_argument("--jac-scales", type=_ints, default=[1, 2, 3, 4, 5, 6, 8, 10],
                   help="scales s for jacrev and jacfwd")
    p.add_argument("--vjp-scales", type=_ints, default=[4, 8, 16, 24, 32, 48, 64],
                   help="scales s for the two VJPs")
    p.add_argument("--fit-from", type=int, default=4,
                   help="fit the Jacobian builders' slopes on scales >= this "
                        "(small sizes measure call overhead)")
    p.add_argument("--vjp-fit-from", type=int, default=16,
                   help="fit the VJPs' slopes on scales >= this (below s = 16 a VJP takes "
                        "under a millisecond, much of it fixed call cost)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per sweep point")
    p.add_argument("--ratio-shapes", type=_shapes, default=[(64, 1024, 1024), (64, 4096, 4096)],
                   help="NxDxM shapes for the closed-form / autograd ratio")
    p.add_argument("--ratio-repeats", type=int, default=30, help="timed runs for the ratio")
    p.add_argument("--ratio-warmup", type=int, default=3, help="untimed runs for the ratio")
    p.add_argument("--ratio-seconds", type=float, default=3.0,
                   help="at small shapes, add runs until each method ran about this long")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: steadier timings on a shared machine)")
    return p.parse_args(argv)


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def fit_table(rows: list[dict], fit_from) -> list[dict]:
    """One summary row per method: fitted slopes, theory, extrapolation to s = 64."""
    table = []
    for name in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == name]
        kind = sel[0]["kind"]
        use = [r for r in sel if r["s"] >= fit_threshold(fit_from, kind)]
        if len({r["s"] for r in use}) < 2:
            use = sel  # too few large scales: fit on everything
        row = {"method": name, "scales": ",".join(str(r["s"]) for r in use)}
        if len({r["s"] for r in use}) >= 2:
            t_law = fit_power_law([r["s"] for r in use], [r["seconds"] for r in use])
            b_law = fit_power_law([r["s"] for r in use], [r["bytes"] for r in use])
            row.update(time_slope=t_law.slope, bytes_slope=b_law.slope,
                       time_at_64=t_law.predict(TARGET_S), bytes_at_64=b_law.predict(TARGET_S))
        else:
            row.update(time_slope=float("nan"), bytes_slope=float("nan"),
                       time_at_64=float("nan"), bytes_at_64=float("nan"))
        row["time_theory"] = RAY_SLOPES[f"{kind}_time"]
        row["bytes_theory"] = RAY_SLOPES[f"{kind}_bytes"]
        table.append(row)
    return table


def measure_ratio(shapes, repeats: int, warmup: int, min_seconds: float = 2.0) -> list[dict]:
    """Closed-form VJP time / autograd backward time, both timed interleaved.

    The headline number is the ratio of the medians. At small shapes the number of runs
    is raised until each method has run for about ``min_seconds`` (at most 500 runs), so
    that a slow spell of a shared machine weighs less. As a cross-check, the median of the
    per-pair ratios (each closed-form run divided by the autograd run right after it),
    which cancels slow spells that hit both runs of a pair, is reported beside it.
    """
    closed, auto = vjp_methods()
    out = []
    for N, D, M in tqdm(shapes, desc="VJP ratio", unit="shape"):
        X, W, b, G = make_layer(N, D, M, dtype=torch.float32, seed=1)
        fns = {"closed": closed.prepare(X, W, b, G), "autograd": auto.prepare(X, W, b, G)}
        probe = median_times(fns, repeats=1, warmup=warmup)
        runs = max(repeats, min(500, math.ceil(min_seconds / max(max(probe.values()), 1e-6))))
        samples = timing_samples(fns, repeats=runs, warmup=0)
        med = {k: statistics.median(v) for k, v in samples.items()}
        out.append({"N": N, "D": D, "M": M, "repeats": runs,
                    "closed_form_s": med["closed"], "autograd_s": med["autograd"],
                    "ratio": med["closed"] / med["autograd"],
                    "paired_ratio": statistics.median(
                        c / a for c, a in zip(samples["closed"], samples["autograd"]))})
        del X, W, b, G, fns
    return out


def _human_bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _human_time(t: float) -> str:
    if t != t:  # nan
        return "-"
    for unit, size in (("h", 3600.0), ("min", 60.0), ("s", 1.0), ("ms", 1e-3)):
        if t >= size:
            return f"{t / size:.3g} {unit}"
    return f"{t * 1e6:.3g} us"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; ``argv`` as on the command line (``None``: ``sys.argv[1:]``)."""
    args = parse_args(argv)
    if args.repeats < 1 or args.ratio_repeats < 1 or args.ratio_warmup < 0 or args.threads < 1:
        raise SystemExit("repeats and threads must be >= 1, warm-up >= 0")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)  # leave the caller's process as it was


def _run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def bar(desc):
        return lambda steps: tqdm(steps, desc=desc, unit="point")

    loop, rev_fwd = jacobian_methods()[:1], jacobian_methods(include_loop=False)
    rows = []
    rows += sweep(args.loop_scales, loop, repeats=args.repeats, progress=bar("helpers.jacobian"))
    rows += sweep(args.jac_scales, rev_fwd, repeats=args.repeats, progress=bar("jacrev/jacfwd"))
    rows += sweep(args.vjp_scales, vjp_methods(), repeats=args.repeats, progress=bar("VJPs"))
    write_csv(out / "sweep.csv", rows)

    fit_from = {"jacobian": args.fit_from, "vjp": args.vjp_fit_from}
    table = fit_table(rows, fit_from)
    write_csv(out / "fits.csv", table)
    ratios = measure_ratio(args.ratio_shapes, args.ratio_repeats, args.ratio_warmup,
                           args.ratio_seconds)
    write_csv(out / "ratio.csv", ratios)

    for quantity, fname in (("seconds", "time.png"), ("bytes", "bytes.png")):
        fig, ax = plt.subplots(figsize=(6.5, 4.0))
        plot_sweep(rows, quantity, ax, fit_from=fit_from)
        ax.set_title(f"{'Median time' if quantity == 'seconds' else 'Bytes'} against scale "
                     f"(float32, {args.threads} thread{'s' if args.threads > 1 else ''}; "
                     f"fits on s >= {args.fit_from} / {args.vjp_fit_from})")
        fig.tight_layout()
        fig.savefig(out / fname, dpi=120)
        plt.close(fig)

    N, D, M = layer_shape(TARGET_S)
    print(f"\nJacobian cost benchmark, float32, torch {torch.__version__}, "
          f"{args.threads} thread(s); slopes fitted on s >= {args.fit_from} (Jacobians), "
          f">= {args.vjp_fit_from} (VJPs); "
          f"extrapolated to s = {TARGET_S}: (N, D, M) = ({N}, {D}, {M})")
    head = (f"{'method':<18} {'scales':<18} {'time slope':>10} {'theory':>6} "
            f"{'bytes slope':>11} {'theory':>6} {'time at s=64':>13} {'bytes at s=64':>13}")
    print(head)
    print("-" * len(head))
    for r in table:
        print(f"{r['method']:<18} {r['scales']:<18} {r['time_slope']:>10.2f} {r['time_theory']:>6} "
              f"{r['bytes_slope']:>11.3f} {r['bytes_theory']:>6} {_human_time(r['time_at_64']):>13} "
              f"{_human_bytes(r['bytes_at_64']):>13}")
    exact_j = jacobian_bytes(N, D, M, 4)
    print(f"exact bytes at s={TARGET_S}: explicit Jacobian {exact_j} = {_human_bytes(exact_j)} "
          f"({exact_j / 1e9:.1f} GB); VJP reads (G, X, W) + writes (dX, dW, db) {_human_bytes(vjp_bytes(N, D, M, 4))}")
    print("\nclosed-form VJP / autograd backward (medians of interleaved runs after "
          f"{args.ratio_warmup} warm-up runs; goal <= 1.1):")
    for r in ratios:
        verdict = "ok" if r["ratio"] <= 1.1 else "above the 1.1 goal"
        print(f"  N={r['N']}, D={r['D']}, M={r['M']}: {r['closed_form_s'] * 1e3:.2f} ms / "
              f"{r['autograd_s'] * 1e3:.2f} ms = {r['ratio']:.3f}  ({verdict}; "
              f"{r['repeats']} runs each; median paired ratio {r['paired_ratio']:.3f})")
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        print(f"load average (1 min) {load:.1f} on {os.cpu_count()} CPUs"
              + ("; timings are inflated by other processes" if load > 1.5 else ""))
    print(f"\nresults in {out}  (sweep.csv, fits.csv, ratio.csv, time.png, bytes.png); "
          f"took {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
