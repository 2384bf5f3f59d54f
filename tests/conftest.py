"""Shared fixtures: every test starts with functrace's defaults and no FUNCTRACE* env."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# pytester drives the plugin's tests; pytest only honours this in the root conftest.
pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _reset_functrace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        # FUNCTRACE_SPEEDUPS=0 selects the pure-Python path for a whole test run.
        # FUNCTRACE_ROOT_PID goes too: importing functrace set it to this test process,
        # and the programs a test starts are not this process's children in a trace.
        if key.startswith("FUNCTRACE") and key != "FUNCTRACE_SPEEDUPS":
            monkeypatch.delenv(key)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    import functrace
    from functrace._runtime import engine, listeners

    functrace.configure(
        output="none", format="text", max_depth=0, min_duration_ns=0, args="", redact=()
    )
    functrace.enable()
    yield
    functrace.flush()
    functrace.configure(
        output="none", format="text", max_depth=0, min_duration_ns=0, args="", redact=()
    )
    functrace.enable()
    listeners.recorders.clear()
    engine.reset_contexts()


@pytest.fixture
def trace_lines(tmp_path: Path) -> Callable[[], list[str]]:
    """Send trace lines to a file; calling the fixture's value returns its event
    lines so far (the comment lines naming the process and its threads aside)."""
    import functrace

    path = tmp_path / "trace.log"
    functrace.configure(output=str(path))

    def read() -> list[str]:
        functrace.flush()
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return [line for line in lines if not line.startswith("# ")]

    return read


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long checks (marked ``slow``: tests/long, tests/stress) run only when asked
    for with ``-m slow`` (their nox sessions); the default test command leaves them out."""
    if "slow" in (config.getoption("-m") or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]
        config.hook.pytest_deselected(items=slow)
