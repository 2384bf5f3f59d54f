"""What ``@functrace.trace`` costs once per function, at definition, on 3.10/3.11:
an inline probe (the function's ``def`` compiled again, twice, from its source)
against a generated wrapper, side by side in one process over the functions of
one generated module (the module's parse is counted apart: once per file).

    python bench/bench_decorate.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time

FUNCTIONS = 200
BODY = """
def f{i}(a, b=1, *c, **d):
    x = a + b
    for y in c:
        x += y
    return x, d
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args, _ = parser.parse_known_args()
    if sys.version_info >= (3, 12):
        print("bench_decorate: 3.10/3.11 only (3.12+ registers code objects: no compile)")
        return
    import functrace
    from functrace._runtime import decorator

    functrace.configure(output="none")
    functrace.trace(lambda: None)  # the backend's start-up, not counted
    tmp = tempfile.mkdtemp()
    sys.path.insert(0, tmp)
    results: dict[str, list[float]] = {"parse": [], "probe": [], "wrapper": []}
    wanted = decorator.probes_wanted
    for round_ in range(args.rounds):
        name = f"bench_decorate_{round_}"
        with open(os.path.join(tmp, f"{name}.py"), "w") as f:
            f.write("".join(BODY.format(i=i) for i in range(2 * FUNCTIONS + 1)))
        module = importlib.import_module(name)
        fns = [getattr(module, f"f{i}") for i in range(2 * FUNCTIONS + 1)]
        t0 = time.perf_counter_ns()
        functrace.trace(fns[0])  # parses the file
        t1 = time.perf_counter_ns()
        probed = [functrace.trace(fn) for fn in fns[1 : FUNCTIONS + 1]]
        t2 = time.perf_counter_ns()
        decorator.probes_wanted = lambda: False  # type: ignore[assignment]
        try:
            wrapped = [functrace.trace(fn) for fn in fns[FUNCTIONS + 1 :]]
        finally:
            decorator.probes_wanted = wanted  # type: ignore[assignment]
        t3 = time.perf_counter_ns()
        assert probed[0] is fns[1] and wrapped[0] is not fns[FUNCTIONS + 1]
        results["parse"].append((t1 - t0) / 1e3)
        results["probe"].append((t2 - t1) / FUNCTIONS / 1e3)
        results["wrapper"].append((t3 - t2) / FUNCTIONS / 1e3)
    print(
        f"@functrace.trace at definition, Python {sys.version.split()[0]}, median of {args.rounds}"
    )
    parse = statistics.median(results["parse"])
    print(f"  first function (parses the {6 * (2 * FUNCTIONS + 1)}-line file): {parse:8.0f} µs")
    for kind in ("probe", "wrapper"):
        print(f"  {kind:8s} {statistics.median(results[kind]):8.1f} µs per function")


if __name__ == "__main__":
    main()
