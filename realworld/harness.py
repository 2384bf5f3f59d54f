"""Run other projects' test suites untraced, then traced, and compare.

    python realworld/harness.py [--mode hook] [--mode rewrite] [PACKAGE ...]

For each package of ``realworld/packages.toml``: download its sdist from PyPI,
make a virtual environment with its test dependencies and functrace, run its
suite untraced (the baseline), then traced in each mode:

- ``hook``: the pytest plugin, ``--functrace=PKG``; nothing on disk changes;
- ``rewrite``: ``functrace instrument`` on a copy of the sources, installed, then
  the suite with tracing on.

Every trace written is checked for well-formedness (each tag balanced, indent ==
depth). One line per package and mode: baseline and traced pass/fail/skip,
regressions (tests that passed at baseline and fail traced), trace events and
the slowdown. Exits 1 if a regression is not listed in ``realworld/known.toml``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import fnmatch
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Outside the repository: a suite under it would take functrace's pyproject.toml
# as its pytest rootdir and configuration.
WORK = Path(
    os.environ.get("FUNCTRACE_REALWORLD_DIR", Path.home() / ".cache" / "functrace-realworld")
)
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
# Trace volume kept in hand (more-itertools writes gigabytes otherwise): lines kept
# per test file in hook mode, per process in rewrite mode. Checking stays exact on
# what is kept: a cut leaves calls open at the end, which is not malformed.
PER_TEST_LINES = 20_000
PER_PROCESS_LINES = 5_000_000
# Trees and outputs of this invocation: runs side by side never touch each other's.
RUN = WORK / "runs" / f"{PY}-{os.getpid()}"

sys.path.insert(0, str(ROOT))
from functrace._runtime.lines import LINE_RE  # noqa: E402


@dataclasses.dataclass
class Package:
    name: str
    version: str
    trace: list[str]
    deps: list[str]
    tests: list[str]
    pytest_args: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Run:
    outcomes: dict[str, str]
    seconds: float
    events: int = 0
    malformed: list[str] = dataclasses.field(default_factory=list)
    open_at_end: int = 0
    note: str = ""
    #: Copies of the trace files that had malformed lines (kept whatever --keep-traces).
    kept: list[str] = dataclasses.field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)

    @property
    def summary(self) -> str:
        return f"{self.count('passed')}/{self.count('failed')}/{self.count('skipped')}"


def load_packages() -> list[Package]:
    data = tomllib.loads((HERE / "packages.toml").read_text())
    return [Package(**entry) for entry in data["package"]]


def load_known() -> list[dict[str, str]]:
    data = tomllib.loads((HERE / "known.toml").read_text())
    return list(data.get("regression", []))


def sh(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, capture_output=True, **kw)  # type: ignore[call-overload]


def fetch(pkg: Package) -> Path:
    """The unpacked sdist, downloaded once into .realworld/sdists."""
    sdists = WORK / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    pattern = f"{pkg.name.replace('-', '_')}-{pkg.version}.tar.gz"
    found = [p for p in sdists.iterdir() if p.name.lower() == pattern.lower()]
    if not found:
        proc = sh(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                str(sdists),
                f"{pkg.name}=={pkg.version}",
            ]
        )
        if proc.returncode:
            raise SystemExit(f"{pkg.name}: download failed: {proc.stderr.strip()[-500:]}")
        found = [p for p in sdists.iterdir() if p.name.lower() == pattern.lower()]
    unpacked = WORK / "src" / f"{pkg.name}-{pkg.version}"
    if not unpacked.exists():
        with tarfile.open(found[0]) as tar:
            top = tar.getnames()[0].split("/")[0]
            tar.extractall(WORK / "src", filter="data")
        (WORK / "src" / top).rename(unpacked)
    return unpacked


def venv_for(pkg: Package) -> Path:
    venv = WORK / "venvs" / PY / pkg.name
    python = venv / "bin" / "python"
    if not python.exists():
        sh([sys.executable, "-m", "venv", str(venv)], check=True)
        # The released package itself too, for its runtime dependencies; each run
        # then reinstalls its own copy of the sources over it (--no-deps).
        proc = sh(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "-e",
                str(ROOT),
                *pkg.deps,
                f"{pkg.name}=={pkg.version}",
            ]
        )
        if proc.returncode:
            shutil.rmtree(venv)
            raise SystemExit(f"{pkg.name}: installing test deps failed: {proc.stderr[-800:]}")
    return python


def install(python: Path, tree: Path) -> str:
    proc = sh(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(tree)]
    )
    return "" if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1]


# A plugin of our own for every run, traced or not: hypothesis without deadlines
# (traced code is slower; a deadline is a timing check, not behaviour).
_PLUGIN = """
try:
    import hypothesis
    hypothesis.settings.register_profile("realworld", deadline=None, derandomize=True)
    hypothesis.settings.load_profile("realworld")
except ImportError:
    pass
"""


def run_suite(
    pkg: Package, python: Path, tree: Path, out: Path, extra: list[str], env: dict[str, str]
) -> Run:
    out.mkdir(parents=True, exist_ok=True)
    (out / "realworld_plugin.py").write_text(_PLUGIN)
    junit = out / "junit.xml"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCTRACE")}
    full_env.update(env)
    full_env["PYTHONPATH"] = str(out)
    cmd = [
        str(python),
        "-m",
        "pytest",
        *pkg.tests,
        "-p",
        "realworld_plugin",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        "-rN",
        f"--junitxml={junit}",
        *pkg.pytest_args,
        *extra,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=full_env, text=True, capture_output=True, timeout=3600)
    seconds = time.perf_counter() - t0
    (out / "pytest.log").write_text(proc.stdout + proc.stderr)
    if not junit.exists():
        return Run({}, seconds, note=f"pytest exit {proc.returncode}, no report")
    return Run(parse_junit(junit), seconds)


def parse_junit(path: Path) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for case in ET.parse(path).iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        if outcomes.get(test_id) != "failed":  # a setup error and a call both report
            outcomes[test_id] = outcome
    return outcomes


def check_traces(run: Run, trace_glob: str, keep: bool) -> None:
    """Every tag balanced and every indent the true depth, over all trace files
    (deleted once checked unless ``keep``: some suites write gigabytes)."""
    for path in sorted(glob.glob(trace_glob, include_hidden=True)):
        before = len(run.malformed)
        _check_file(run, path)
        if len(run.malformed) > before:
            # An intermittent malformed trace is worth more than its first lines:
            # keep the whole file beside the run, whatever --keep-traces says.
            kept = Path(path).parent.parent / "malformed" / Path(path).name
            kept.parent.mkdir(exist_ok=True)
            shutil.copyfile(path, kept)
            run.kept.append(str(kept))
        if not keep:
            os.unlink(path)


def _check_file(run: Run, path: str) -> None:
    stacks: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            # Comment lines (functrace._runtime.lines): FUNCTRACE_MAX_LINES' cut marker,
            # and the lines naming a process, thread or task. Never events.
            if line.startswith("# "):
                continue
            m = LINE_RE.match(line.rstrip("\n"))
            if m is None:
                if len(run.malformed) < 20:
                    run.malformed.append(f"{path}:{number}: not a trace line")
                continue
            run.events += 1
            stack = stacks.setdefault(m["tag"], [])
            depth = len(m["indent"]) // 4
            if m["arrow"] == "->":
                stack.append(m["name"])
                ok = depth == len(stack)
            else:
                ok = bool(stack) and stack[-1] == m["name"] and depth == len(stack)
                if stack:
                    stack.pop()
            if not ok and len(run.malformed) < 20:
                run.malformed.append(f"{path}:{number}: {line.strip()[:120]}")
    run.open_at_end += sum(len(s) for s in stacks.values())


def source_dirs(pkg: Package, tree: Path) -> list[Path]:
    found = []
    for name in pkg.trace:
        for candidate in (tree / "src" / name, tree / name, tree / f"{name}.py"):
            if candidate.exists():
                found.append(candidate)
                break
    return found


def fresh_copy(unpacked: Path, mode: str) -> Path:
    tree = RUN / "trees" / f"{unpacked.name}-{mode}"
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(unpacked, tree, symlinks=True)
    return tree


@contextlib.contextmanager
def venv_lock(pkg: Package) -> Iterator[None]:
    """One run at a time installs into and tests with a package's shared venv."""
    path = WORK / "venvs" / PY / f"{pkg.name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print(f"  (waiting for another run using the {pkg.name} venv)", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run_package(
    pkg: Package, modes: list[str], depth: int, keep: bool
) -> list[tuple[str, Run, Run]]:
    with venv_lock(pkg):
        return _run_package(pkg, modes, depth, keep)


def _run_package(
    pkg: Package, modes: list[str], depth: int, keep: bool
) -> list[tuple[str, Run, Run]]:
    unpacked = fetch(pkg)
    python = venv_for(pkg)
    results = []
    base_tree = fresh_copy(unpacked, "baseline")
    failure = install(python, base_tree)
    if failure:
        raise SystemExit(f"{pkg.name}: install failed: {failure}")
    out_root = RUN / "out" / pkg.name
    if out_root.exists():
        shutil.rmtree(out_root)
    baseline = run_suite(pkg, python, base_tree, out_root / "baseline", [], {"FUNCTRACE": "0"})
    trace_env = {"FUNCTRACE_MAX_DEPTH": str(depth)} if depth else {}
    for mode in modes:
        out = out_root / mode
        out.mkdir(parents=True, exist_ok=True)
        env = {
            **trace_env,
            "FUNCTRACE_OUTPUT": str(out / "trace-{pid}.log"),
            "FUNCTRACE_MAX_LINES": str(PER_PROCESS_LINES),
        }
        if mode == "hook":
            install(python, base_tree)
            extra = [f"--functrace={name}" for name in pkg.trace]
            extra.append(f"--functrace-output={out / 'per-test'}")
            extra.append(f"--functrace-limit={PER_TEST_LINES}")
            run = run_suite(pkg, python, base_tree, out, extra, env)
        else:
            tree = fresh_copy(unpacked, "rewrite")
            proc = sh(
                [
                    str(python),
                    "-m",
                    "functrace",
                    "instrument",
                    *map(str, source_dirs(pkg, tree)),
                ]
            )
            if proc.returncode:
                run = Run({}, 0.0, note=f"instrument failed: {proc.stderr.strip()[-300:]}")
            else:
                failure = install(python, tree)
                run = (
                    Run({}, 0.0, note=f"install failed: {failure}")
                    if failure
                    else run_suite(pkg, python, tree, out, [], env)
                )
        check_traces(run, str(out / "trace-*.log"), keep)
        check_traces(run, str(out / "per-test" / "*"), keep)
        results.append((mode, baseline, run))
    if not keep:
        shutil.rmtree(RUN / "trees", ignore_errors=True)
    return results


def regressions(baseline: Run, traced: Run) -> list[str]:
    return sorted(
        t
        for t, o in baseline.outcomes.items()
        if o == "passed" and traced.outcomes.get(t, "missing") not in ("passed",)
    )


def is_known(known: list[dict[str, str]], pkg: str, mode: str, test: str) -> str | None:
    for entry in known:
        if (
            entry["package"] == pkg
            and entry["mode"] in (mode, "*")
            and fnmatch.fnmatchcase(test, entry["test"])
            and fnmatch.fnmatchcase(PY, entry.get("python", "*"))
        ):
            return entry["reason"]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packages", nargs="*")
    parser.add_argument("--mode", action="append", choices=["hook", "rewrite"])
    parser.add_argument("--keep-traces", action="store_true", help="keep trace files")
    parser.add_argument(
        "--max-depth", type=int, default=0, help="FUNCTRACE_MAX_DEPTH for traced runs (0: no limit)"
    )
    args = parser.parse_args()
    modes = args.mode or ["hook", "rewrite"]
    packages = [p for p in load_packages() if not args.packages or p.name in args.packages]
    known = load_known()
    unknown_total = 0
    print(f"Python {PY}")
    header = (
        f"{'package':18} {'mode':8} {'baseline p/f/s':>15} {'traced p/f/s':>15} "
        f"{'regr':>5} {'known':>5} {'events':>11} {'bad':>4} {'slowdown':>8}"
    )
    print(header)
    for pkg in packages:
        for mode, baseline, traced in run_package(pkg, modes, args.max_depth, args.keep_traces):
            if not traced.outcomes:  # the mode could not run at all: one failure, not N
                print(f"{pkg.name:18} {mode:8} {baseline.summary:>15}  FAILED: {traced.note}")
                unknown_total += 1
                continue
            regs = regressions(baseline, traced)
            unknown = [t for t in regs if is_known(known, pkg.name, mode, t) is None]
            unknown_total += len(unknown) + len(traced.malformed)
            slow = traced.seconds / baseline.seconds if baseline.seconds else float("nan")
            print(
                f"{pkg.name:18} {mode:8} {baseline.summary:>15} {traced.summary:>15} "
                f"{len(regs):>5} {len(regs) - len(unknown):>5} {traced.events:>11} "
                f"{len(traced.malformed):>4} {slow:>7.1f}x {traced.note}",
                flush=True,
            )
            for test in unknown[:15]:
                print(f"    regression: {test}")
            if len(unknown) > 15:
                print(f"    ... {len(unknown) - 15} more")
            for bad in traced.malformed[:5]:
                print(f"    malformed: {bad}")
            for kept in traced.kept:
                print(f"    malformed trace kept: {kept}")
    return 1 if unknown_total else 0


if __name__ == "__main__":
    sys.exit(main())
