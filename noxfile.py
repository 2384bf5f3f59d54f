"""Sessions: `tests` on every supported Python found, `lint`, `typecheck`, `bench`,
and the long checks that the default test command leaves out."""

from __future__ import annotations

import glob
import os
import shutil

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]  # each one found; others skipped

# pyenv installs interpreters outside PATH; make every one of them findable so
# `nox -s tests` runs on all supported Pythons present on the machine.
_pyenv = os.path.expanduser("~/.pyenv/versions")
for _minor in PYTHONS:
    for _bin in sorted(glob.glob(f"{_pyenv}/{_minor}.*/bin"), reverse=True)[:1]:
        if _bin not in os.environ.get("PATH", ""):
            os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

nox.options.sessions = ["tests", "lint"]
nox.options.error_on_missing_interpreters = False


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The unit and integration tests (the README's test command) on each Python."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-n", "2", *session.posargs)
    # The runtime again on its pure-Python path (the compiled one is the default).
    session.run(
        "python", "-m", "pytest", "-n", "2", "tests/runtime", env={"FUNCTRACE_SPEEDUPS": "0"}
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    paths = ["functrace", "tests", "bench", "examples", "realworld", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation (docs/, mkdocs.yml) built with warnings as errors: every
    page in the nav, every link and anchor resolving."""
    session.install("mkdocs>=1.6")
    session.run("mkdocs", "build", "--strict", "--site-dir", session.create_tmp())


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[test]", "mypy")
    session.run("mypy")


@nox.session(python="3.12")
def bench(session: nox.Session) -> None:
    """Benchmarks: each prints ratios measured side by side (bench_macro.py: real
    workloads, each variant in its own process, against cProfile and VizTracer)."""
    session.install("-e", ".")
    # bench_macro.py's workloads and the tracers it compares with, pinned.
    session.install("pygments==2.21.0", "markdown==3.11.3", "viztracer==1.1.1")
    for script in sorted(glob.glob("bench/bench_*.py")):
        session.run("python", script, *session.posargs)


@nox.session(name="stdlib-roundtrip", python=PYTHONS)
def stdlib_roundtrip(session: nox.Session) -> None:
    """strip(instrument(x)) == x over every file of this Python's Lib/ that libcst parses."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-m", "slow", "tests/long", *session.posargs)


@nox.session(name="otel-e2e", python="3.12")
def otel_e2e(session: nox.Session) -> None:
    """Live spans to a real Arize Phoenix on 127.0.0.1:6006, read back through its REST
    API (~850 MB): parents across threads, tasks and jobs, values, code.* attributes.
    FUNCTRACE_E2E_PYTHONS (paths, with the otel extra) runs the traced programs there too."""
    session.install("-e", ".[test,otel]", "arize-phoenix==20.26.1")  # its REST API, as tested
    session.run(
        "python",
        "-m",
        "pytest",
        "-m",
        "slow",  # the root conftest leaves slow tests out unless asked for
        "tests/e2e/test_phoenix.py",
        *session.posargs,
        env={"FUNCTRACE_E2E": "phoenix"},
    )


@nox.session(python="3.12")
def browser(session: nox.Session) -> None:
    """speedscope and chrome exports opened in the real speedscope page, in headless
    Chromium (Debian's chromium, driven by Playwright): a profile per thread and task."""
    session.install("-e", ".[test]", "playwright==1.65.2")
    session.run(
        "python",
        "-m",
        "pytest",
        "-m",
        "slow",
        "tests/e2e/test_browser.py",
        *session.posargs,
        env={"FUNCTRACE_E2E": "browser"},
    )


@nox.session(python=["3.11", "3.12", "3.13"])
def realworld(session: nox.Session) -> None:
    """Other projects' suites untraced, then traced (hook and rewrite modes): one line
    per package; fails on a regression not listed in realworld/known.toml."""
    session.run("python", "realworld/harness.py", *session.posargs)


@nox.session(python=PYTHONS)
def stress(session: nox.Session) -> None:
    """The runtime under stress (16 threads, generators across threads, switching,
    output switches), compiled and pure-Python paths."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-m", "slow", "tests/stress", *session.posargs)


def _free_threaded_python() -> str | None:
    for name in ("python3.14t", "python3.13t"):
        found = shutil.which(name)
        if found:
            return found
    # ../shared/tools/build-python-ft.sh builds one here.
    cached = os.path.expanduser("~/.cache/python-ft/bin/python3.13t")
    return cached if os.path.exists(cached) else None


@nox.session(python=False)
def freethreaded(session: nox.Session) -> None:
    """On a free-threaded Python (python3.14t or python3.13t on PATH): importing
    functrace keeps the GIL off; the runtime tests, the stress tests and the thread
    scaling bench, compiled and pure. libcst has no free-threaded wheel, so only the
    runtime (which needs nothing) is installed."""
    exe = _free_threaded_python()
    if exe is None:
        session.skip("no python3.14t or python3.13t on PATH (pyenv install 3.13t)")
    venv = os.path.join(".nox", "freethreaded-venv")
    session.run(exe, "-m", "venv", "--clear", venv, external=True)
    py = os.path.join(venv, "bin", "python")
    tools = ["pytest", "pytest-xdist", "setuptools"]
    session.run(py, "-m", "pip", "install", "-q", *tools, external=True)
    session.run(py, "-m", "pip", "install", "-q", "--no-deps", "-e", ".", external=True)
    session.run(
        py,
        "-c",
        "import sys, functrace._runtime._speedups, functrace; "
        "assert not sys._is_gil_enabled(), 'importing functrace turned the GIL on'",
        external=True,
    )
    for speedups in ("1", "0"):
        env = {"FUNCTRACE_SPEEDUPS": speedups}
        session.run(py, "-m", "pytest", "-n", "2", "tests/runtime", external=True, env=env)
        session.run(py, "-m", "pytest", "-m", "slow", "tests/stress", external=True, env=env)
    session.run(py, "bench/bench_threads.py", *session.posargs, external=True)
