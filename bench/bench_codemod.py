"""``functrace instrument`` over CPython's Lib/ against libcst's own parse + codegen.

Both are timed in one run on a copy of the running Python's standard library
(site-packages excluded):

- libcst alone, one core, in this process: ``parse_module(src).bytes`` per file;
- ``python -m functrace instrument -j JOBS COPY`` as a subprocess (the CLI's whole
  code path: start-up, discovery, the process pool, atomic writes, with the progress
  bar drawn to a file as it would be on a terminal).

The goal is a ratio (functrace time / libcst time) of at most 1.0 with two jobs.

    python bench/bench_codemod.py [--limit N] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N files")
    parser.add_argument("--jobs", type=int, default=2, help="functrace's -j (default 2)")
    args, _ = parser.parse_known_args()  # nox passes every bench script the same options

    lib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in lib.rglob("*.py") if "site-packages" not in p.parts)
    if args.limit:
        files = files[: args.limit]

    with tempfile.TemporaryDirectory(prefix="bench-codemod-") as tmp:
        copy = Path(tmp) / "Lib"
        for path in files:
            target = copy / path.relative_to(lib)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        sources = [p.read_bytes() for p in sorted(copy.rglob("*.py"))]
        lines = sum(src.count(b"\n") for src in sources)

        import libcst

        start = time.perf_counter()
        refused = 0
        for src in sources:
            try:
                libcst.parse_module(src).bytes  # noqa: B018
            except Exception:
                refused += 1
        libcst_time = time.perf_counter() - start

        env = {**os.environ, "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "COLUMNS": "100"}
        with open(Path(tmp) / "stderr", "w+b") as stderr:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "functrace", "instrument", "-j", str(args.jobs), str(copy)],
                stderr=stderr,
                env=env,
                check=False,
            )
            ours_time = time.perf_counter() - start
            stderr.seek(0)
            summary = stderr.read().decode(errors="replace").strip().splitlines()[-1:]

    print(f"codemod: {len(sources)} files, {lines} lines of {lib}")
    print(
        f"  libcst parse + codegen, 1 core:          {libcst_time:7.2f} s  "
        f"{lines / libcst_time:8.0f} lines/s  ({refused} files it cannot parse)"
    )
    print(
        f"  functrace instrument -j {args.jobs} (CLI, total): {ours_time:7.2f} s  "
        f"{lines / ours_time:8.0f} lines/s  ({' '.join(summary)})"
    )
    print(f"  ratio functrace / libcst: {ours_time / libcst_time:.2f} (goal <= 1.0)")


if __name__ == "__main__":
    main()
