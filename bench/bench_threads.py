"""Does tracing serialise a threaded program? The speedup of N threads over one
thread doing the same per-thread work, untraced and traced (lines written to a
file), measured side by side in one process, medians over rounds.

On a free-threaded build (python3.13t) the untraced speedup approaches the
number of cores; the traced one should keep most of it. With the GIL both stay
near 1.0x: the figure is printed all the same, for comparison.

Two figures per mode. "wall" is the elapsed time. On Linux, "own" also leaves out
the time each thread spent ready to run but waiting for a CPU that another
process had (/proc/thread-self/schedstat): on a shared machine that is what the
other processes cost, not what tracing costs; time spent waiting for a lock of
ours still counts. Compare the two: on an idle machine they agree.

    python bench/bench_threads.py [--rounds 7] [--threads 2 [4 ...]]
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


def _cpu_wait_ns() -> int:
    """This thread's time spent runnable but waiting for a CPU, in ns (Linux), else 0."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def run(fib: Callable[[int], int], threads: int) -> tuple[float, float]:
    """(wall, own) seconds for `threads` threads each doing WORK calls of fib(18)."""
    spans: list[tuple[int, int, int]] = []
    ready = threading.Barrier(threads + 1)

    def work() -> None:
        ready.wait()
        start, waited = time.perf_counter_ns(), _cpu_wait_ns()
        for _ in range(WORK):
            fib(18)
        end, waited = time.perf_counter_ns(), _cpu_wait_ns() - waited
        spans.append((start, end, waited))

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    ready.wait()
    for t in pool:
        t.join()
    wall = max(end for _, end, _ in spans) - min(start for start, _, _ in spans)
    own = max(end - start - waited for start, end, waited in spans)
    return wall / 1e9, own / 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    args, _ = parser.parse_known_args()
    counts = sorted(set(args.threads) - {1})
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FUNCTRACE_OUTPUT"] = os.path.join(tmp, "trace.log")
        import functrace

        functrace.configure(output=os.environ["FUNCTRACE_OUTPUT"])
        modes = {"untraced": make_fib(False), "traced": make_fib(True)}
        times: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for name, fib in modes.items():
                for n in (1, *counts):
                    times.setdefault((name, n), []).append(run(fib, n))
            functrace.flush()
            open(os.environ["FUNCTRACE_OUTPUT"], "w").close()  # keep the disk small
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(
        f"thread scaling, Python {sys.version.split()[0]}"
        f"{' (free-threaded, GIL off)' if not gil else ''}, {os.cpu_count()} CPUs, "
        f"N threads x {WORK} x fib(18) each, median of {args.rounds} rounds"
    )
    for n in counts:
        print(f"  N = {n}")
        speedups: dict[tuple[str, int], float] = {}
        for name in modes:
            for i, kind in enumerate(("wall", "own")):
                one = statistics.median(t[i] for t in times[(name, 1)])
                many = statistics.median(t[i] for t in times[(name, n)])
                # N threads do N times the work of one: speedup = N * t1 / tN.
                speedups[(name, i)] = n * one / many
                print(
                    f"    {name:9s} {kind:4s}  1 thread {one * 1e3:8.1f} ms   {n} threads "
                    f"{many * 1e3:8.1f} ms   speedup {speedups[(name, i)]:.2f}x"
                )
        for i, kind in enumerate(("wall", "own")):
            untraced, traced = speedups[("untraced", i)], speedups[("traced", i)]
            if untraced > 1.05:
                print(
                    f"    {kind}: traced keeps {traced / untraced:.0%} of the untraced speedup "
                    f"({(traced - 1) / (untraced - 1):.0%} of its gain above 1x)"
                )
            else:
                print(f"    {kind}: no parallel untraced threads here (the GIL, or busy CPUs)")


if __name__ == "__main__":
    main()
