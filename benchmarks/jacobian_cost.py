"""Benchmark: what building the explicit Jacobian of a linear layer costs, against a VJP.

Run by ``make bench`` (or ``.venv/bin/python benchmarks/jacobian_cost.py``). The same
measurements as chapter 6 and its appendix, over a larger sweep, with the functions of
:mod:`helpers.cost` (so the chapter and the benchmark use one definition of each
quantity and one fitting rule):

1. the explicit dY/dX built three ways (``helpers.jacobian``, ``torch.func.jacrev``,
   ``torch.func.jacfwd``) and the VJP computed two ways (closed form, autograd backward),
   on the ray ``(N, D, M) = (s, 64 s, 64 s)``. Per point: the formula's bytes (the
   Jacobian's; for a VJP what it reads, G, X, W, plus what it writes, dX, dW, db:
   :func:`helpers.cost.vjp_bytes`), the **measured peak** of PyTorch's CPU allocator
   during one call (:func:`helpers.cost.peak_bytes`), the exact FLOP count, and the
   median time of ``--repeats`` runs after warm-up (every method prepared outside the
   timed call, as in the chapter);
2. log-log slopes of time with their standard errors, fitted only where
   :func:`helpers.cost.fit_method` allows (>= 3 scales spanning >= 2x, each product
   call doing >= 1e6 FLOPs). A time at ``s = 64`` (``N = 64, D = M = 4096``) is
   extrapolated from the fit only if the slope is within 0.5 of theory; otherwise it is
   anchored on the exact count times the measured seconds per FLOP at the largest
   scale, and the table says so. The explicit Jacobian at ``s = 64`` is reported as
   infeasible with the memory it needs, not as a time;
3. the closed-form VJP's median time divided by autograd's backward at
   ``N = 64, D = M = 1024`` and ``N = 64, D = M = 4096`` (both compute the same two
   matrix products and one sum; the goal is a ratio <= 1.1);
4. the cheap-gradient principle: FLOPs and time of a linear layer's backward (dX, dW,
   db) over its forward (the ratio of the fastest runs, the least disturbed on a shared
   machine, with the ratio of the medians beside it).

Writes ``sweep.csv`` (with the ``peak`` column), ``fits.csv``, ``ratio.csv``,
``table.md``, ``time.png``, ``bytes.png`` and ``peak.png`` to the results folder
(``benchmarks/results/``, git-ignored) and prints the table.
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
# the helpers of this checkout, not of whichever copy is installed in the venv
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from tqdm import tqdm  # noqa: E402

from helpers.cost import (  # noqa: E402
    MAX_SLOPE_DEVIATION,
    MIN_FIT_POINTS,
    MIN_FIT_SPAN,
    MIN_FLOPS_PER_CALL,
    RAY_SLOPES,
    extrapolate_seconds,
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
    p.add_argument("--loop-scales", type=_ints, default=[1, 2, 3, 4, 5, 6],
                   help="scales s for helpers.jacobian (one Python-level VJP per output)")
    p.add_argument("--jac-scales", type=_ints, default=[2, 3, 4, 5, 6, 8],
                   help="scales s for jacrev and jacfwd")
    p.add_argument("--vjp-scales", type=_ints, default=[8, 16, 24, 32, 48],
                   help="scales s for the two VJPs")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per sweep point (>= 7)")
    p.add_argument("--ratio-shapes", type=_shapes, default=[(64, 1024, 1024), (64, 4096, 4096)],
                   help="NxDxM shapes for the closed-form / autograd ratio")
    p.add_argument("--ratio-repeats", type=int, default=30, help="timed runs for the ratio")
    p.add_argument("--ratio-warmup", type=int, default=3, help="untimed runs for the ratio")
    p.add_argument("--ratio-seconds", type=float, default=2.0,
                   help="at small shapes, add runs until each method ran about this long")
    p.add_argument("--cheap-shape", type=_shapes, default=[(64, 1024, 1024)],
                   help="NxDxM shape for the backward / forward ratio")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: steadier timings on a shared machine)")
    return p.parse_args(argv)


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def fit_table(rows: list[dict]) -> list[dict]:
    """One summary row per method: time slope ± error (where supported), s = 64 estimate."""
    N, D, M = layer_shape(TARGET_S)
    table = []
    for name in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == name]
        kind = sel[0]["kind"]
        theory = RAY_SLOPES[f"{kind}_time"]
        est = extrapolate_seconds(sel, TARGET_S, theory)
        law = est["law"]
        largest = max(sel, key=lambda r: r["s"])  # small extra tensors weigh least there
        peak_ratio = largest["peak"] / largest["bytes"]
        bytes_64 = jacobian_bytes(N, D, M, 4) if kind == "jacobian" else vjp_bytes(N, D, M, 4)
        table.append({
            "method": name, "kind": kind,
            "fit_scales": ",".join(str(s) for s in est["scales"]) if law is not None else "",
            "time_slope": law.slope if law is not None else float("nan"),
            "time_slope_stderr": law.stderr if law is not None else float("nan"),
            "time_theory": theory,
            "basis": est["basis"],
            "reason": est["reason"],
            "seconds_at_64": est["seconds"],
            "bytes_at_64": bytes_64,
            "peak_over_bytes": peak_ratio,
            "peak_at_64_estimate": peak_ratio * bytes_64,
        })
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


def measure_cheap_gradient(shape, repeats: int) -> dict:
    """FLOPs and median seconds of a linear layer's backward (dX, dW, db) over its forward."""
    N, D, M = shape
    X, W, b, G = make_layer(N, D, M, dtype=torch.float32, seed=2)
    Xr, Wr, br = (t.clone().requires_grad_(True) for t in (X, W, b))
    Y = Xr @ Wr + br

    def forward():
        with torch.no_grad():
            return X @ W + b

    def backward():
        return torch.autograd.grad(Y, (Xr, Wr, br), G, retain_graph=True)

    counts = {}
    for name, fn in (("forward", forward), ("backward", backward)):
        counter = FlopCounterMode(display=False)
        with counter:
            fn()
        counts[name] = counter.get_total_flops()
    samples = timing_samples({"forward": forward, "backward": backward}, repeats=repeats,
                             warmup=2)
    med = {k: statistics.median(v) for k, v in samples.items()}
    fastest = {k: min(v) for k, v in samples.items()}
    return {"N": N, "D": D, "M": M, "forward_flops": counts["forward"],
            "backward_flops": counts["backward"],
            "flop_ratio": counts["backward"] / counts["forward"],
            "forward_s": med["forward"], "backward_s": med["backward"],
            "time_ratio": fastest["backward"] / fastest["forward"],
            "median_time_ratio": med["backward"] / med["forward"], "repeats": repeats}


def _human_bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _human_time(t: float) -> str:
    if t != t:  # nan
        return "-"
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0),
                       ("ms", 1e-3)):
        if t >= size:
            return f"{t / size:.3g} {unit}"
    return f"{t * 1e6:.3g} us"


def _memory_available() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def markdown_table(table: list[dict], ram: int | None) -> str:
    """The summary as a markdown table (also written to ``table.md``)."""
    lines = ["| method | fit on s = | time slope ± s.e. | theory | time at s = 64 | "
             "formula bytes at s = 64 | measured peak / formula | peak at s = 64 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table:
        slope = ("no fit" if r["fit_scales"] == "" else
                 f"{r['time_slope']:.2f} ± {r['time_slope_stderr']:.2f}")
        need = r["peak_at_64_estimate"]
        basis = "fit" if r["basis"] == "fit" else "count x measured s/FLOP"
        when = f"{_human_time(r['seconds_at_64'])} ({basis})"
        if r["kind"] == "jacobian" and (ram is None or need > ram):
            have = f", this machine has {_human_bytes(ram)}" if ram else ""
            when = f"infeasible: needs {_human_bytes(need)}{have} (arithmetic alone: {when})"
        lines.append(f"| {r['method']} | {r['fit_scales'] or '-'} | {slope} | {r['time_theory']} "
                     f"| {when} | {_human_bytes(r['bytes_at_64'])} | {r['peak_over_bytes']:.3f} "
                     f"| {_human_bytes(need)} |")
    return "\n".join(lines) + "\n"


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
    for r in rows:
        r["peak_over_bytes"] = r["peak"] / r["bytes"]
    write_csv(out / "sweep.csv", rows)

    table = fit_table(rows)
    write_csv(out / "fits.csv", table)
    ratios = measure_ratio(args.ratio_shapes, args.ratio_repeats, args.ratio_warmup,
                           args.ratio_seconds)
    write_csv(out / "ratio.csv", ratios)
    cheap = measure_cheap_gradient(args.cheap_shape[0], max(2 * args.repeats, 7))
    write_csv(out / "cheap_gradient.csv", [cheap])

    titles = {"seconds": "Median time", "bytes": "Bytes (formula)", "peak": "Measured peak"}
    for quantity, fname in (("seconds", "time.png"), ("bytes", "bytes.png"), ("peak", "peak.png")):
        fig, ax = plt.subplots(figsize=(6.5, 4.0))
        plot_sweep(rows, quantity, ax)
        ax.set_title(f"{titles[quantity]} against scale (float32, {args.threads} "
                     f"thread{'s' if args.threads > 1 else ''})")
        fig.tight_layout()
        fig.savefig(out / fname, dpi=120)
        plt.close(fig)

    N, D, M = layer_shape(TARGET_S)
    ram = _memory_available()
    md = markdown_table(table, ram)
    rule = (f"Fits: >= {MIN_FIT_POINTS} scales spanning >= {MIN_FIT_SPAN:g}x among those with "
            f">= {MIN_FLOPS_PER_CALL:.0e} FLOPs per product call; extrapolated only within "
            f"±{MAX_SLOPE_DEVIATION} of theory, otherwise count x measured seconds per FLOP "
            f"at the largest scale. Times: medians of {args.repeats} runs after warm-up.")
    header = (f"Jacobian cost benchmark, float32, torch {torch.__version__}, "
              f"{args.threads} thread(s); s = {TARGET_S} is (N, D, M) = ({N}, {D}, {M}).")
    measured = [r for r in ratios if (r["N"], r["D"], r["M"]) == (N, D, M)]
    if measured:
        md += (f"\nMeasured at (N, D, M) = ({N}, {D}, {M}): closed-form VJP "
               f"{_human_time(measured[0]['closed_form_s'])}, autograd backward "
               f"{_human_time(measured[0]['autograd_s'])} (medians of {measured[0]['repeats']} "
               f"runs, ratio.csv).\n")
    md += (f"\nCheap gradient at (N, D, M) = ({cheap['N']}, {cheap['D']}, {cheap['M']}): "
           f"backward / forward FLOPs {cheap['flop_ratio']:.3f}, time {cheap['time_ratio']:.2f} "
           f"(fastest runs; medians {cheap['median_time_ratio']:.2f}).\n")
    (out / "table.md").write_text(f"{header}\n\n{rule}\n\n{md}")
    print(f"\n{header}\n{rule}\n")
    print(md)
    for r in table:
        if r["reason"]:
            print(f"  {r['method']}: {r['basis']} ({r['reason']})")
    exact_j = jacobian_bytes(N, D, M, 4)
    print(f"\nexact bytes at s={TARGET_S}: explicit Jacobian {exact_j} = {_human_bytes(exact_j)} "
          f"({exact_j / 1e9:.1f} GB); VJP reads (G, X, W) + writes (dX, dW, db) "
          f"{_human_bytes(vjp_bytes(N, D, M, 4))}")
    print("\nclosed-form VJP / autograd backward (medians of interleaved runs after "
          f"{args.ratio_warmup} warm-up runs; goal <= 1.1):")
    for r in ratios:
        verdict = "ok" if r["ratio"] <= 1.1 else "above the 1.1 goal"
        print(f"  N={r['N']}, D={r['D']}, M={r['M']}: {r['closed_form_s'] * 1e3:.2f} ms / "
              f"{r['autograd_s'] * 1e3:.2f} ms = {r['ratio']:.3f}  ({verdict}; "
              f"{r['repeats']} runs each; median paired ratio {r['paired_ratio']:.3f})")
    print(f"\ncheap gradient, N={cheap['N']}, D={cheap['D']}, M={cheap['M']}: backward / forward "
          f"FLOPs {cheap['flop_ratio']:.3f}; time {cheap['time_ratio']:.2f} (fastest of "
          f"{cheap['repeats']} runs each), medians {cheap['backward_s'] * 1e3:.2f} ms / "
          f"{cheap['forward_s'] * 1e3:.2f} ms = {cheap['median_time_ratio']:.2f}")
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        print(f"load average (1 min) {load:.1f} on {os.cpu_count()} CPUs"
              + ("; timings are inflated by other processes" if load > 1.5 else ""))
    print(f"\nresults in {out}  (sweep.csv, fits.csv, ratio.csv, cheap_gradient.csv, table.md, "
          f"time.png, bytes.png, peak.png); took {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
