"""Start-up of a generated 50-module program: plain python, the first
``functrace run`` (rewrites and writes the cache) and a cached ``functrace run``,
measured side by side (interleaved rounds), medians and ratios printed.

The program only imports its modules and calls one function per module, so the
numbers are start-up: interpreter, imports, the rewrite or the cache, tracing
set-up. ``python bench/bench_startup.py [ROUNDS]``.
"""

from __future__ import annotations

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


def generate(root: Path) -> None:
    pkg = root / "benchapp"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for m in range(MODULES):
        body = [f"import benchapp.m{m - 1} as prev" if m else "prev = None", ""]
        for f in range(FUNCTIONS):
            body += [
                f"def f{f}(x):",
                f"    '''Function {f} of module {m}.'''",
                "    return x + 1",
                "",
                f"class C{f}:",
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
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCTRACE")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["FUNCTRACE_OUTPUT"] = "none"
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    plain_cmd = [sys.executable, "main.py"]
    run_cmd = [sys.executable, "-m", "functrace", "run", "main.py"]
    import_only = [sys.executable, "-c", "import functrace.cli.run, functrace.importhook"]
    results: dict[str, list[float]] = {"plain": [], "first": [], "cached": [], "cli": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root)
        timed(plain_cmd, root, env)  # the plain .pyc files exist in every round
        for _ in range(rounds):
            results["plain"].append(timed(plain_cmd, root, env))
            for path in (root / "benchapp" / "__pycache__").glob("*functrace*"):
                path.unlink()
            results["first"].append(timed(run_cmd, root, env))
            results["cached"].append(timed(run_cmd, root, env))
            results["cli"].append(timed(import_only, root, env))
        clear_cache(root)
    med = {k: statistics.median(v) * 1000 for k, v in results.items()}
    print(f"start-up of {MODULES} modules x {2 * FUNCTIONS} functions, {rounds} rounds, medians")
    print(f"  python main.py                 {med['plain']:8.1f} ms   1.00x")
    for key, label in (("first", "functrace run (first)"), ("cached", "functrace run (cached)")):
        print(f"  {label:<30} {med[key]:8.1f} ms   {med[key] / med['plain']:.2f}x")
    print(f"  (python -c 'import functrace.cli.run, functrace.importhook': {med['cli']:.1f} ms)")


if __name__ == "__main__":
    main()
