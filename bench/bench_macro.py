"""Macro benchmark: real pure-Python workloads, untraced and under each tracer.

Three workloads (bench/workloads/): pygments highlighting Python source to HTML and
to the terminal; Python-Markdown converting this repository's docs to HTML; asyncio
tasks parsing JSON documents with a pure-Python recursive-descent parser. Each runs
in five variants:

- untraced;
- functrace, compiled fast path: ``functrace run -i PACKAGE -o FILE``, every function
  of the workload's package traced through the import hook, lines flushed to a file
  in /tmp inside the timing;
- functrace, pure-Python path: the same with ``FUNCTRACE_SPEEDUPS=0``;
- cProfile: ``Profile().enable()`` around the workload, stats dumped to a file;
- VizTracer (defaults): ``start()``, ``stop()``, ``save()`` of its JSON.

Each run is a fresh process (bench/workloads/run.py) that times its own CPU
(``time.process_time``, all threads) around the workload only, after a small
warm-up run that does the lazy imports. Rounds interleave the variants (the order
rotates each round), and each ratio is the median over rounds of the variant's CPU
time over the same round's untraced run. "lines" is the trace lines functrace wrote
in the timed part. A variant whose package is missing prints n/a.

    python bench/bench_macro.py [--rounds 3] [--quick] [--only pygments,asyncio]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS_DIR = os.path.join(HERE, "workloads")
RUNNER = os.path.join(WORKLOADS_DIR, "run.py")
WORKLOADS = ["pygments", "markdown", "asyncio"]
VARIANTS = ["untraced", "functrace compiled", "functrace pure", "cProfile", "VizTracer"]
TIMEOUT = 300


def available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def command(variant: str, workload: str, package: str, scale: float, outdir: str) -> list[str]:
    args = [workload, "plain", str(scale), outdir]
    if variant.startswith("functrace"):
        trace = os.path.join(outdir, "trace.log")
        return [sys.executable, "-m", "functrace", "run", "-i", package, "-o", trace, RUNNER, *args]
    if variant == "cProfile":
        args[1] = "cprofile"
    elif variant == "VizTracer":
        args[1] = "viztracer"
    return [sys.executable, RUNNER, *args]


def run_one(variant: str, workload: str, package: str, scale: float, tmp: str) -> dict[str, Any]:
    outdir = tempfile.mkdtemp(dir=tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCTRACE")}
    if variant == "functrace pure":
        env["FUNCTRACE_SPEEDUPS"] = "0"
    try:
        proc = subprocess.run(
            command(variant, workload, package, scale, outdir),
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,  # so that `functrace run` traces only the --include package
            timeout=TIMEOUT,
        )
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{workload}/{variant} failed ({proc.returncode}): " + " | ".join(tail))
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def human(count: float) -> str:
    if count >= 1e6:
        return f"{count / 1e6:.1f}M"
    if count >= 1e3:
        return f"{count / 1e3:.0f}k"
    return str(int(count))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round on small inputs")
    parser.add_argument("--only", default="", help="comma-separated workloads")
    args, _ = parser.parse_known_args()  # nox passes every bench script the same options
    rounds, scale = (1, 0.1) if args.quick else (max(1, args.rounds), 1.0)

    sys.path.insert(0, WORKLOADS_DIR)
    chosen = [w for w in WORKLOADS if not args.only or w in args.only.split(",")]
    modules = {w: importlib.import_module(f"wl_{w}") for w in chosen}
    usable = {
        "untraced": True,
        "functrace compiled": available("functrace._runtime._speedups"),
        "functrace pure": available("functrace"),
        "cProfile": available("cProfile"),
        "VizTracer": available("viztracer"),
    }
    workloads = {}
    for w, mod in modules.items():
        package = mod.PACKAGE
        workloads[w] = package if (available(package) or w == "asyncio") else None

    cpu: dict[tuple[str, str], list[float]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    lines: dict[str, list[int]] = {}
    results: dict[str, set[str]] = {}
    failed: dict[tuple[str, str], str] = {}
    tmp = tempfile.mkdtemp(prefix="functrace-macro-")
    try:
        for r in range(rounds):
            for w, package in workloads.items():
                if package is None:
                    continue
                variants = [v for v in VARIANTS if usable[v]]
                order = variants[r % len(variants) :] + variants[: r % len(variants)]
                this_round: dict[str, float] = {}
                for v in order:
                    if (w, v) in failed:
                        continue
                    try:
                        got = run_one(v, w, package, scale, tmp)
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        failed[w, v] = str(exc)
                        continue
                    this_round[v] = got["cpu"]
                    cpu.setdefault((w, v), []).append(got["cpu"])
                    results.setdefault(w, set()).add(got["result"])
                    if v == "functrace compiled" or (
                        v == "functrace pure" and not usable["functrace compiled"]
                    ):
                        lines.setdefault(w, []).append(got["lines"])
                base = this_round.get("untraced")
                for v, seconds in this_round.items():
                    if base:
                        ratios.setdefault((w, v), []).append(seconds / base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"Macro workloads, Python {sys.version.split()[0]}: process CPU time, median of "
        f"{rounds} round(s), ratios to the same round's untraced run"
        + (" (--quick: small inputs)" if args.quick else "")
    )
    header = ["workload", "untraced s", *VARIANTS[1:], "lines"]
    rows = [header]
    for w, package in workloads.items():
        row = [f"{w} ({package})" if package else w]
        if package is None or not cpu.get((w, "untraced")):
            rows.append(row + ["n/a"] * (len(header) - 1))
            continue
        row.append(f"{statistics.median(cpu[w, 'untraced']):.2f}")
        for v in VARIANTS[1:]:
            row.append(f"{statistics.median(ratios[w, v]):.2f}x" if ratios.get((w, v)) else "n/a")
        row.append(human(statistics.median(lines[w])) if lines.get(w) else "n/a")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    per_line = []
    for w in workloads:
        base, counted = cpu.get((w, "untraced")), lines.get(w)
        if not base or not counted:
            continue
        costs = []
        for v in ("functrace compiled", "functrace pure"):
            if ratios.get((w, v)):
                added = (statistics.median(ratios[w, v]) - 1) * statistics.median(base)
                costs.append(f"{v.split()[1]} {added / statistics.median(counted) * 1e9:.0f}")
        per_line.append(f"{w} {', '.join(costs)}")
    if per_line:
        print("  ns added per trace line: " + "; ".join(per_line))
    for (w, v), why in failed.items():
        print(f"  {w}/{v}: n/a, {why}")
    for w, seen in results.items():
        if len(seen) > 1:
            print(f"  {w}: the variants computed different results: {sorted(seen)}")
    for w, package in workloads.items():
        if package is None:
            print(f"  {w}: n/a, its package ({modules[w].PACKAGE}) is not installed")


if __name__ == "__main__":
    main()
