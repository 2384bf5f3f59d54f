"""Why 3.10/3.11 trace through wrappers, not a C profile hook: what a profile
hook costs code that is NOT traced.

A ``PyEval_SetProfile`` hook would add no frame (the way ``sys.monitoring`` does
on 3.12+), but the interpreter then calls it for every Python and C call in the
thread, traced or not, and on 3.11 it also turns off the specialising
interpreter and materialises a frame object per call. This builds a tiny C
extension (bench/profile_hook/phook.c: a hook that does nothing, and one that
only looks a code object up in a set, the least a tracer must do) and times
untraced workloads with each, side by side in one process, medians over rounds.

    python bench/bench_profile_hook.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import ast
import importlib
import pprint
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "profile_hook"


def build() -> Any:
    """The extension, built in a temporary directory; None without a compiler."""
    tmp = Path(tempfile.mkdtemp(prefix="phook-"))
    shutil.copy(HERE / "phook.c", tmp)
    (tmp / "setup.py").write_text(
        "from setuptools import setup, Extension\n"
        "setup(name='phook', ext_modules=[Extension('phook', ['phook.c'])])\n"
    )
    proc = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=tmp,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        print(f"profile hook bench: n/a (could not build the extension: {proc.stderr[-300:]})")
        return None
    sys.path.insert(0, str(tmp))
    return importlib.import_module("phook")


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args, _ = parser.parse_known_args()
    phook = build()
    if phook is None:
        return
    tree = ast.parse(Path(ast.__file__).read_text())
    data = [{f"k{i}": list(range(i % 7)), "s": "x" * (i % 13)} for i in range(3000)]
    work: dict[str, Callable[[], object]] = {
        "fib(22)": lambda: fib(22),
        "ast.unparse": lambda: ast.unparse(tree),
        "pprint.pformat": lambda: pprint.pformat(data),
    }
    modes = (0, 1, 2)  # no hook, a hook that does nothing, a hook that filters
    times: dict[str, dict[int, list[float]]] = {w: {m: [] for m in modes} for w in work}
    for _ in range(args.rounds):
        for name, run in work.items():
            for mode in modes:
                phook.install(mode)
                start = time.process_time()
                run()
                elapsed = time.process_time() - start
                phook.install(0)
                times[name][mode].append(elapsed)
    print(f"\nWhat untraced code pays under a C profile hook, Python {sys.version.split()[0]}")
    print(f"{'workload':16} {'untraced':>10} {'no-op hook':>11} {'filtering hook':>15}")
    for name in work:
        base = statistics.median(times[name][0])
        noop = statistics.median(times[name][1]) / base
        filt = statistics.median(times[name][2]) / base
        print(f"{name:16} {base * 1e3:8.1f}ms {noop:10.2f}x {filt:14.2f}x")


if __name__ == "__main__":
    main()
