"""functrace's pytest plugin (registered through the ``pytest11`` entry point).

Inert unless asked: without ``--functrace`` (or the ``functrace`` ini option) it
only adds its options and the ``functrace_calls`` fixture; nothing of functrace is
imported and no hook is installed. The working parts live in
:mod:`functrace.pytest`, loaded when the plugin is switched on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from functrace import Recording

__all__ = ["functrace_calls", "pytest_addoption", "pytest_configure", "pytest_unconfigure"]

_PLUGIN = "functrace-session"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("functrace", "call chains with functrace")
    group.addoption(
        "--functrace",
        action="append",
        nargs="?",
        const=".",
        default=None,
        metavar="PKG",
        help="trace package PKG (and its submodules) during the tests; repeatable. "
        "Bare, or '.': the packages under the rootdir. A failing test's report shows "
        "its call tree.",
    )
    group.addoption(
        "--functrace-tests",
        action="store_true",
        default=None,
        help="trace the test modules' own functions too.",
    )
    group.addoption(
        "--functrace-lines",
        default=None,
        metavar="N",
        help="at most N lines of call tree per failing test (default 200; 0: no cap).",
    )
    group.addoption(
        "--functrace-limit",
        default=None,
        metavar="N",
        help="keep at most N calls per test, count the rest (default 50000).",
    )
    group.addoption(
        "--functrace-output",
        default=None,
        metavar="DIR",
        help="write each test's full trace to DIR/<node id>.log.",
    )
    parser.addini("functrace", "packages to trace ('.': those under the rootdir)", "linelist")
    parser.addini("functrace_tests", "trace the test modules too", "bool", default=False)
    parser.addini("functrace_lines", "lines of call tree per failing test", default="")
    parser.addini("functrace_limit", "calls kept per test", default="")
    parser.addini("functrace_output", "directory for one trace file per test", default="")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("functrace") is None and not config.getini("functrace"):
        return
    from functrace.pytest import FunctracePlugin, Options

    options = Options.from_config(config)
    if options is not None:
        config.pluginmanager.register(FunctracePlugin(config, options), _PLUGIN)


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin(_PLUGIN)
    if plugin is not None:
        plugin.unconfigure()
        config.pluginmanager.unregister(plugin)


@pytest.fixture
def functrace_calls(request: pytest.FixtureRequest) -> Iterator[Recording]:
    """The calls traced while this test runs, as a :class:`functrace.Recording`:
    ``functrace_calls.chains("D")`` says which chain each call to ``D`` came through."""
    import functrace

    with functrace.record() as rec:
        yield rec
