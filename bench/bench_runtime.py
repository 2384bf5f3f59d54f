"""Traced-call overhead, in ns per call, measured side by side in one process.

Two workloads: recursive fib (call-heavy, tiny bodies) and a small recursive-descent
expression parser (realistic pure Python). For each: untraced, a bare
functools.wraps pass-through wrapper, functrace writing lines to a file (flushed
inside the timing) through the compiled fast path and through the pure-Python
one (switched at run time), jsonl through the compiled path (``jsonl,
compiled``), the same with arguments and return values (``FUNCTRACE_ARGS=1``,
``lines + values``), and functrace with ``record()``; beside them, what the
tracers people compare with cost on the same code, when installed: cProfile
(enabled around the run, its stats dumped to a file) and VizTracer (collecting,
then saving its JSON; ``nox -s bench`` installs it). Each
mode gets its own copy of the workload's functions (fresh code objects), rounds alternate the modes,
and the medians and the best rounds (steadier on a busy machine) are reported with
the ratio to the bare wrapper's overhead.

    python bench/bench_runtime.py [--rounds 7] [--cpu]

``--cpu`` times each run in process CPU time (``time.process_time_ns``: every
thread's, the kernel's writing included) instead of wall time, as the runtime
issue's table was measured: steadier where other work shares the cores.
"""

from __future__ import annotations

import argparse
import functools
import linecache
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

WORKLOAD = """
@deco
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

@deco
def parse_expr(tokens, pos):
    value, pos = parse_term(tokens, pos)
    while pos < len(tokens) and tokens[pos] in "+-":
        op = tokens[pos]
        rhs, pos = parse_term(tokens, pos + 1)
        value = value + rhs if op == "+" else value - rhs
    return value, pos

@deco
def parse_term(tokens, pos):
    value, pos = parse_atom(tokens, pos)
    while pos < len(tokens) and tokens[pos] in "*/":
        op = tokens[pos]
        rhs, pos = parse_atom(tokens, pos + 1)
        value = value * rhs if op == "*" else value // (rhs or 1)
    return value, pos

@deco
def parse_atom(tokens, pos):
    tok = tokens[pos]
    if tok == "(":
        value, pos = parse_expr(tokens, pos + 1)
        return value, pos + 1
    return number(tok), pos + 1

@deco
def number(tok):
    return int(tok)
"""

EXPR = "(1+2*3-(4*5+6)*7+8*(9-1))*2+3*(4+5*(6-7*(8+9)))-1"
TOKENS = [ch for ch in EXPR]


def bare(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


_built = 0


def build(deco: Callable[..., Any], source: bool = True) -> dict[str, Any]:
    """The workload's functions decorated with ``deco``. ``source``: its text is
    in ``linecache`` (as IPython and Jupyter put theirs), so that on 3.10/3.11
    ``functrace.trace`` can recompile the plain functions with inline probes;
    without it they get wrappers."""
    global _built
    _built += 1
    filename = f"<bench workload {_built}>"
    if source:
        linecache.cache[filename] = (len(WORKLOAD), None, WORKLOAD.splitlines(True), filename)
    namespace: dict[str, Any] = {"deco": deco, "__name__": "bench"}
    exec(compile(WORKLOAD, filename, "exec"), namespace)
    return namespace


def count_calls() -> tuple[int, int]:
    calls = 0

    def counting(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            nonlocal calls
            calls += 1
            return fn(*args)

        return wrapper

    ns = build(counting)
    ns["fib"](FIB_N)
    fib_calls, calls = calls, 0
    for _ in range(PARSE_REPEAT):
        ns["parse_expr"](TOKENS, 0)
    return fib_calls, calls


FIB_N = 20
PARSE_REPEAT = 300


def _cprofile(run: Callable[[], None]) -> None:
    import cProfile

    profile = cProfile.Profile()
    profile.enable()
    try:
        run()
    finally:
        profile.disable()
    with tempfile.NamedTemporaryFile(suffix=".prof") as f:
        profile.dump_stats(f.name)


def _viztracer(tmp: str) -> Callable[[Callable[[], None]], None] | None:
    try:
        from viztracer import VizTracer  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        return None
    out = os.path.join(tmp, "viztracer.json")

    def run_under(run: Callable[[], None]) -> None:
        tracer = VizTracer(verbose=0, output_file=out)
        tracer.start()
        try:
            run()
        finally:
            tracer.stop()
        tracer.save()

    return run_under


PIECE = 1 << 16  # _speedups.c's CHUNK_SIZE: the most a flush takes from one chunk


def write_only(data: bytes, path: str, clock: Callable[[], int] = time.perf_counter_ns) -> int:
    """ns to write ``data`` to ``path`` as the output does (appending, in pieces)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        t0 = clock()
        for start in range(0, len(data), PIECE):
            os.write(fd, view[start : start + PIECE])
        return clock() - t0
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cpu", action="store_true", help="process CPU time, not wall time")
    args, _ = parser.parse_known_args()  # nox passes every bench script the same options

    import functrace

    tmp = tempfile.mkdtemp()
    log = os.path.join(tmp, "trace.log")
    functrace.configure(output=log)

    from functrace._runtime import engine

    engine._use_speedups(True)
    compiled = engine._native is not None

    def build_with_values() -> dict[str, Any]:
        # Values wanted when the functions are decorated, as FUNCTRACE_ARGS, `run
        # --args` and `pytest --functrace-args` have it: on 3.10/3.11 the wrappers
        # then hand their arguments over (wrap.py).
        functrace.configure(output=log, args=True)
        try:
            return build(functrace.trace, source=sys.version_info >= (3, 12))
        finally:
            functrace.configure(output=log)

    modes: dict[str, dict[str, Any]] = {
        "untraced": build(lambda f: f),
        "bare wrapper": build(bare),
        "lines, compiled": build(functrace.trace),
        "jsonl, compiled": build(functrace.trace),
        "lines, pure Python": build(functrace.trace),
        # Values need the return value, which a 3.10/3.11 inline probe cannot see: wrappers.
        "lines + values": build_with_values(),
        "record()": build(functrace.trace),
    }
    if sys.version_info < (3, 12):
        # 3.10/3.11: the same, through generated wrappers (no source to recompile).
        modes["lines, compiled, wrappers"] = build(functrace.trace, source=False)
    if not compiled:
        del modes["lines, compiled"]
        del modes["jsonl, compiled"]
        modes.pop("lines, compiled, wrappers", None)
    others = {"cProfile": _cprofile, "VizTracer": _viztracer(tmp)}
    for name, tracer in others.items():
        if tracer is not None:
            modes[name] = build(lambda f: f)
    fib_calls, parse_calls = count_calls()

    def run_fib(ns: dict[str, Any]) -> None:
        ns["fib"](FIB_N)

    def run_parse(ns: dict[str, Any]) -> None:
        for _ in range(PARSE_REPEAT):
            ns["parse_expr"](TOKENS, 0)

    clock = time.process_time_ns if args.cpu else time.perf_counter_ns
    results: dict[tuple[str, str], list[float]] = {}
    writes: dict[str, list[float]] = {}  # "write only": ns per round, per workload
    for _ in range(args.rounds):
        for workload, runner in (("fib", run_fib), ("parser", run_parse)):
            for mode, ns in modes.items():
                if mode.startswith(("lines", "jsonl")):
                    functrace.configure(
                        output=log,
                        args=mode == "lines + values",
                        format="jsonl" if mode.startswith("jsonl") else "text",
                    )
                    engine._use_speedups(mode != "lines, pure Python")
                else:
                    functrace.configure(output="none", args=False, format="text")
                t0 = clock()
                if mode == "record()":
                    with functrace.record():
                        runner(ns)
                elif mode in others:
                    tracer = others[mode]
                    assert tracer is not None
                    tracer(functools.partial(runner, ns))
                else:
                    runner(ns)
                functrace.flush()
                results.setdefault((workload, mode), []).append(clock() - t0)
                if mode == "lines, compiled":
                    with open(log, "rb") as f:
                        data = f.read()
                    spent = write_only(data, os.path.join(tmp, "write-only.log"), clock)
                    writes.setdefault(workload, []).append(spent)
                if os.path.exists(log):
                    os.truncate(log, 0)

    print(
        f"functrace runtime overhead, Python {sys.version.split()[0]}, "
        f"median of {args.rounds} rounds" + (", process CPU time" if args.cpu else "")
    )
    if not compiled:
        print("(functrace._runtime._speedups is not built: pure-Python path only)")
    for workload, calls in (("fib", fib_calls), ("parser", parse_calls)):
        base = statistics.median(results[(workload, "untraced")])
        print(f"\n{workload}: {calls} calls per run, untraced {base / calls:.0f} ns/call")
        print(f"  {'':26s}  median ns/call (x bare)   best ns/call (x bare)")
        wrap = {
            stat: stat(results[(workload, "bare wrapper")]) - stat(results[(workload, "untraced")])
            for stat in (statistics.median, min)
        }
        for mode in modes:
            if mode == "untraced":
                continue
            cells = []
            for stat in (statistics.median, min):
                over = stat(results[(workload, mode)]) - stat(results[(workload, "untraced")])
                cells.append(f"+{over / calls:7.0f} ({over / wrap[stat]:4.1f}x)")
            print(f"  {mode:26s}  {cells[0]:>16s}   {cells[1]:>20s}")
        if workload in writes:
            cells = []
            for stat in (statistics.median, min):
                over = stat(writes[workload])
                cells.append(f"+{over / calls:7.0f} ({over / wrap[stat]:4.1f}x)")
            print(f"  {'write only':26s}  {cells[0]:>16s}   {cells[1]:>20s}")
            if (workload, "cProfile") in results:
                cells = []
                for stat in (statistics.median, min):
                    profile = stat(results[(workload, "cProfile")])
                    over = profile - stat(results[(workload, "untraced")]) + stat(writes[workload])
                    cells.append(f"+{over / calls:7.0f} ({over / wrap[stat]:4.1f}x)")
                print(f"  {'floor: cProfile + write':26s}  {cells[0]:>16s}   {cells[1]:>20s}")
        off = "lines, compiled" if compiled else "lines, pure Python"
        if "lines, compiled, wrappers" in modes:
            off = "lines, compiled, wrappers"  # values come through wrappers on 3.10/3.11
        ratios = []
        for stat in (statistics.median, min):
            untraced = stat(results[(workload, "untraced")])
            on = stat(results[(workload, "lines + values")]) - untraced
            ratios.append(f"{on / (stat(results[(workload, off)]) - untraced):.1f}x")
        print(f"  values on / off ({off}): {ratios[0]} median, {ratios[1]} best")
        if compiled:
            ratios = []
            for stat in (statistics.median, min):
                untraced = stat(results[(workload, "untraced")])
                json_over = stat(results[(workload, "jsonl, compiled")]) - untraced
                text_over = stat(results[(workload, "lines, compiled")]) - untraced
                ratios.append(f"{json_over / text_over:.2f}x")
            print(f"  jsonl / text lines (compiled): {ratios[0]} median, {ratios[1]} best")


if __name__ == "__main__":
    main()
