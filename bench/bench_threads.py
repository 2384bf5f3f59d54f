"""Does tracing serialise a threaded program? The speedup of N threads over one
thread doing the same per-thread work, untraced and traced (lines written to a
file), measured side by side in one process, medians over rounds.

On a free-threaded build (python3.13t) the untraced speedup approaches the
number of cores; the traced one should keep most of it. With the GIL both stay
near 1.0x: the figure is printed all the same, for comparison.

    python bench/bench_threads.py [--rounds 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable

WORK = 20  # fib(18) calls per thread per run


def make_fib(traced: bool) -> Callable[[int], int]:
    # A fresh function per mode: its own code object.
    namespace: dict[str, object] = {}
    exec("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n", namespace)
    fib = namespace["fib"]
    if traced:
        import functrace

        fib = functrace.trace(fib)
        namespace["fib"] = fib
    return fib  # type: ignore[return-value]


def run(fib: Callable[[int], int], threads: int) -> float:
    def work() -> None:
        for _ in range(WORK):
            fib(18)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args, _ = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FUNCTRACE_OUTPUT"] = os.path.join(tmp, "trace.log")
        import functrace

        functrace.configure(output=os.environ["FUNCTRACE_OUTPUT"])
        modes = {"untraced": make_fib(False), "traced": make_fib(True)}
        times: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.rounds):
            for name, fib in modes.items():
                for n in (1, args.threads):
                    times.setdefault((name, n), []).append(run(fib, n))
            functrace.flush()
            open(os.environ["FUNCTRACE_OUTPUT"], "w").close()  # keep the disk small
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(
        f"thread scaling, Python {sys.version.split()[0]}"
        f"{' (free-threaded, GIL off)' if not gil else ''}, {os.cpu_count()} CPUs, "
        f"{args.threads} threads x {WORK} x fib(18), median of {args.rounds} rounds"
    )
    speedups = {}
    for name in modes:
        one = statistics.median(times[(name, 1)])
        many = statistics.median(times[(name, args.threads)])
        # N threads do N times the work of one: speedup = N * t1 / tN.
        speedups[name] = args.threads * one / many
        print(
            f"  {name:9s} 1 thread {one * 1e3:8.1f} ms   {args.threads} threads "
            f"{many * 1e3:8.1f} ms   speedup {speedups[name]:.2f}x"
        )
    if speedups["untraced"] > 1.05:
        kept = (speedups["traced"] - 1) / (speedups["untraced"] - 1)
        print(f"  traced keeps {kept:.0%} of the untraced speedup above 1x")
    else:
        print("  untraced threads do not run in parallel here (the GIL, or a busy machine)")


if __name__ == "__main__":
    main()
