"""Start-up of a generated 50-module program: plain python; the same program with
``@functrace.trace`` written on every function (the tracing cost itself: importing
functrace, registering 2000 functions, 50 traced calls); the first ``functrace run``
(3.10/3.11: rewrites and writes the cache) and a cached one. Measured side by side
(interleaved rounds), medians and ratios printed.

The goal (issue 4): the cached ``functrace run`` within 10% of the decorated
program. On 3.12+ there is no functrace cache (the normal bytecode runs), so first
and cached are the same run.

The program only imports its modules and calls one function per module, so the
numbers are start-up: interpreter, imports, the rewrite or the cache, tracing
set-up. ``python bench/bench_startup.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULES = 50
FUNCTIONS = 20


def generate(root: Path, decorated: bool = False) -> None:
    root.mkdir()
    pkg = root / "benchapp"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    deco = ["@functrace.trace"] if decorated else []
    for m in range(MODULES):
        body = ["import functrace"] if decorated else []
        body += [f"import benchapp.m{m - 1} as prev" if m else "prev = None", ""]
        for f in range(FUNCTIONS):
            body += [
                *deco,
                f"def f{f}(x):",
                f"    '''Function {f} of module {m}.'''",
                "    return x + 1",
                "",
                f"class C{f}:",
                *["    " + d for d in deco],
                "    def method(self, y):",
                "        return y * 2",
                "",
            ]
        (pkg / f"m{m}.py").write_text("\n".join(body))
    calls = "\n".join(f"benchapp.m{m}.f0({m})" for m in range(MODULES))
    imports = "\n".join(f"import benchapp.m{m}" for m in range(MODULES))
    (root / "main.py").write_text(f"{imports}\n{calls}\n")


def clear_cache(root: Path) -> None:
    shutil.rmtree(root / "benchapp" / "__pycache__", ignore_errors=True)


def timed(cmd: list[str], root: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_known_args()[0].rounds  # nox passes every bench script the same options
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCTRACE")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["FUNCTRACE_OUTPUT"] = "none"
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    plain_cmd = [sys.executable, "main.py"]
    run_cmd = [sys.executable, "-m", "functrace", "run", "main.py"]
    import_only = [sys.executable, "-c", "import functrace.importhook.runner"]
    results: dict[str, list[float]] = {
        "plain": [], "decorated": [], "first": [], "cached": [], "cli": []
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root, decorated = Path(tmp) / "plain", Path(tmp) / "decorated"
        generate(root)
        generate(decorated, decorated=True)
        timed(plain_cmd, root, env)  # the plain .pyc files exist in every round
        timed(plain_cmd, decorated, env)
        for _ in range(rounds):
            results["plain"].append(timed(plain_cmd, root, env))
            results["decorated"].append(timed(plain_cmd, decorated, env))
            for path in (root / "benchapp" / "__pycache__").glob("*functrace*"):
                path.unlink()
            results["first"].append(timed(run_cmd, root, env))
            results["cached"].append(timed(run_cmd, root, env))
            results["cli"].append(timed(import_only, root, env))
        clear_cache(root)
    med = {k: statistics.median(v) * 1000 for k, v in results.items()}
    print(
        f"start-up of {MODULES} modules x {2 * FUNCTIONS} functions, {rounds} rounds, medians, "
        f"Python {sys.version_info[0]}.{sys.version_info[1]}"
    )
    rows = (
        ("plain", "python main.py"),
        ("decorated", "python main.py, @trace written"),
        ("first", "functrace run (first)"),
        ("cached", "functrace run (cached)"),
    )
    for key, label in rows:
        print(
            f"  {label:<32} {med[key]:8.1f} ms   {med[key] / med['plain']:.2f}x plain"
            f"   {med[key] / med['decorated']:.2f}x decorated"
        )
    print(f"  (python -c 'import functrace.importhook.runner': {med['cli']:.1f} ms)")


if __name__ == "__main__":
    main()
