"""functrace's pytest plugin (registered through the ``pytest11`` entry point).

Inert unless asked: without ``--functrace`` (or the ``functrace`` ini option) it
only adds its options and the ``functrace_calls`` fixture; nothing of functrace is
imported and no hook is installed. The working parts live in
:mod:`functrace.pytest`, loaded when the plugin is switched on.

Switched on as early as pytest lets a plugin act: ``pytest_load_initial_conftests``
(before any conftest is imported), else ``pytest_configure``. What other plugins
imported even earlier is traced after the fact (3.10/3.11: wrapped in place).

``--functrace`` takes an optional value, so ``pytest --functrace tests/test_x.py``
would read the path as the package: a value that looks like a path (a ``/``, a
``::``, a ``.py`` end) is never a package; bare ``--functrace`` is meant and the
path stays pytest's to collect.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from functrace import Recording

__all__ = [
    "functrace_calls",
    "is_package",
    "pytest_addoption",
    "pytest_configure",
    "pytest_load_initial_conftests",
    "pytest_unconfigure",
]

_PLUGIN = "functrace-session"
_FLAG = "--functrace"
_ROOTDIR = "."
# A dotted name, globs allowed (app, app.core, app_*): what an import name can be.
_NAME = re.compile(r"[\w*?\[\]]+(?:\.[\w*?\[\]]+)*\Z")


def is_package(value: str) -> bool:
    """Whether ``value`` names packages (``app``, ``app.core``, ``.`` for those
    under the rootdir), never a path (``tests/test_x.py``, ``test_x.py``,
    ``test_x.py::test_a``)."""
    if value == _ROOTDIR:
        return True
    return bool(_NAME.match(value)) and not value.endswith(".py") and os.sep not in value


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
        "Bare, or '.': the packages under the rootdir. A value that looks like a path "
        "(tests/test_x.py) is never a package: it stays a test path. A failing test's "
        "report shows its call tree.",
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
        help="write at most N trace lines per test, count the rest (default 200000).",
    )
    group.addoption(
        "--functrace-children",
        action="store_true",
        default=None,
        help="trace the Python processes a test starts too (subprocess, multiprocessing), "
        "into the test's own trace.",
    )
    group.addoption(
        "--functrace-args",
        action="store_true",
        default=None,
        help="show arguments and return values in the traces (FUNCTRACE_ARGS=1: "
        "no code of the program runs to show them; secret-looking parameters are ***).",
    )
    group.addoption(
        "--functrace-output",
        default=None,
        metavar="DIR",
        help="write each test's full trace to DIR/<node id>.log.",
    )
    parser.addini("functrace", "packages to trace ('.': those under the rootdir)", "linelist")
    parser.addini("functrace_tests", "trace the test modules too", "bool", default=False)
    parser.addini("functrace_args", "show arguments and return values", "bool", default=False)
    parser.addini("functrace_lines", "lines of call tree per failing test", default="")
    parser.addini("functrace_limit", "trace lines written per test", default="")
    parser.addini("functrace_output", "directory for one trace file per test", default="")
    parser.addini("functrace_children", "trace the processes tests start", "bool", default=False)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    if _paths_back(args):  # pytest parses this same list for real later
        early_config.known_args_namespace = parser.parse_known_args(
            args, namespace=copy.copy(early_config.option)
        )
    # Options are parsed for real only later: read what is known so far.
    known = early_config.known_args_namespace
    _switch_on(early_config, lambda name: getattr(known, name, None))


def _paths_back(args: list[str]) -> bool:
    """``--functrace PATH`` -> ``--functrace=. PATH``, in place: the path is the
    tests to run. Whether anything changed."""
    changed = False
    for at in range(len(args) - 1):
        if args[at] == "--":
            break
        if args[at] == _FLAG and not is_package(args[at + 1]) and not args[at + 1].startswith("-"):
            args[at] = f"{_FLAG}={_ROOTDIR}"
            changed = True
    return changed


def pytest_configure(config: pytest.Config) -> None:
    _switch_on(config, config.getoption)


def _switch_on(config: pytest.Config, option: Callable[[str], Any]) -> None:
    if config.pluginmanager.has_plugin(_PLUGIN):
        return
    if option("functrace") is None and not config.getini("functrace"):
        return
    from functrace.pytest import FunctracePlugin, Options

    options = Options.from_config(config, option)
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
