"""The active plugin: the import hook for the session, a recording per test, and a
call-tree section on the report of each failing test (whole when it fits in
``--functrace-lines``, else the chain that explains the failure, and the path of
the whole file, kept for it)."""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import re
import shutil
import sys
import tempfile
import types
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

import functrace
from functrace._runtime import output
from functrace.children import Policy, follow, unfollow
from functrace.importhook import ImportHook, install_import_hook, mode
from functrace.pytest._format import capped, explain
from functrace.pytest_plugin import is_package

__all__ = ["FunctracePlugin", "Options"]

#: Under ``--functrace=.`` (or a bare ``--functrace``): the packages under the rootdir.
ROOTDIR = "."
SECTION = "functrace call tree"
_file_key = pytest.StashKey[Path]()
_dropped_key = pytest.StashKey[int]()


@dataclasses.dataclass(frozen=True)
class Options:
    packages: tuple[str, ...]
    tests: bool = False
    lines: int = 200
    limit: int = 200_000  # lines written per test, then a marker and a count
    output: Path | None = None
    children: bool = False  # the Python processes a test starts write to its trace
    args: bool = False

    @classmethod
    def from_config(
        cls, config: pytest.Config, option: Callable[[str], Any] | None = None
    ) -> Options | None:
        """None when functrace was not asked for. ``option``: how to read a
        command-line option (before pytest has parsed them all, from its early
        namespace); default ``config.getoption``."""
        option = option or config.getoption
        flags: list[str] | None = option("functrace")
        packages = flags if flags is not None else list(config.getini("functrace"))
        if not packages:
            return None
        wanted = [p.strip() or ROOTDIR for p in packages]
        for value in wanted:
            if not is_package(value):
                raise pytest.UsageError(
                    f"--functrace takes a package name (or . for the packages under "
                    f"the rootdir), not a path: {value!r}"
                )
        output = option("functrace_output") or config.getini("functrace_output")
        return cls(
            packages=tuple(dict.fromkeys(wanted)),
            tests=bool(option("functrace_tests") or config.getini("functrace_tests")),
            lines=_int(config, option, "functrace_lines", 200),
            limit=_int(config, option, "functrace_limit", 200_000),
            output=Path(config.rootpath, output) if output else None,
            children=bool(option("functrace_children") or config.getini("functrace_children")),
            args=bool(option("functrace_args") or config.getini("functrace_args")),
        )


def _int(config: pytest.Config, option: Callable[[str], Any], name: str, default: int) -> int:
    value = option(name)
    if value is None:
        value = config.getini(name) or default
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(
            f"--{name.replace('_', '-')} takes a number, not {value!r}"
        ) from None


class FunctracePlugin:
    def __init__(self, config: pytest.Config, options: Options) -> None:
        self.config = config
        self.options = options
        self._previous = functrace.configure()
        functrace.configure(output="none", **({"args": True} if options.args else {}))
        self.hook = self._install()
        self._traced_modules: set[str] = set()
        if options.output is not None:
            options.output.mkdir(parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(prefix="functrace-pytest-"))
        self._kept = False

    def _install(self) -> ImportHook:
        from _pytest.assertion.rewrite import AssertionRewritingHook

        include = []
        for package in self.options.packages:
            if package != ROOTDIR:
                include += [package, f"{package}.*"]
        under = [self.config.rootpath] if ROOTDIR in self.options.packages else []
        skip_files = [] if self.options.tests else self._test_file_globs()
        exclude = ["functrace", "functrace.*"]
        self._children = Policy.of(include, exclude, under, skip_files)
        # No notice now (filterwarnings = error would end the session here):
        # what could not be traced is told in the terminal summary.
        return install_import_hook(
            include,
            exclude,
            under=under,
            skip_files=skip_files,
            after=AssertionRewritingHook,
            warn=False,
        )

    def _test_file_globs(self) -> list[str]:
        return [*self.config.getini("python_files"), "conftest.py"]

    def unconfigure(self) -> None:
        if not self._kept:  # else it holds the full traces the report names
            shutil.rmtree(self._scratch, ignore_errors=True)
        self.hook.uninstall()
        functrace.configure(**dataclasses.asdict(self._previous))

    # ------------------------------------------------------------ notices

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        notes = self.notes()
        if notes:
            terminalreporter.write_sep("-", "functrace")
            for note in notes:
                terminalreporter.write_line(note)

    def notes(self) -> list[str]:
        """What the user should know about the tracing itself: told at the end,
        never as warnings (a session must not fail because of them)."""
        notes = []
        if self.hook.untraced:
            notes.append(
                "imported before the plugin could act, and not traceable (no Python "
                f"source): {_names(self.hook.untraced)}"
            )
        if self.hook.traced_before and _wrapped_in_place():
            notes.append(
                "imported before the plugin could act, so traced by wrapping their "
                f"functions in place: {_names(self.hook.traced_before)} (references "
                "taken before, as in `from m import f`, stay untraced)"
            )
        if not self.config.pluginmanager.has_plugin("dsession"):  # xdist's workers import
            imported = list(sys.modules)
            for package in self.options.packages:
                if package != ROOTDIR and not any(
                    fnmatch.fnmatchcase(n, package) or fnmatch.fnmatchcase(n, f"{package}.*")
                    for n in imported
                ):
                    notes.append(f"--functrace={package}: no module of that name was imported")
        return notes

    # ------------------------------------------------------------ test modules

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Matching modules some finder ahead of ours imported (pytest's assertion
        # rewriter takes packages passed to register_assert_rewrite), 3.12+.
        self.hook.trace_imported()
        if not self.options.tests:
            return
        for item in items:
            module = getattr(item, "module", None)
            if module is not None and module.__name__ not in self._traced_modules:
                self._traced_modules.add(module.__name__)
                if _trace_module(module):
                    continue
                _trace_namespace(module)
            if _uses_monitoring():
                continue
            obj = getattr(item, "obj", None)
            func = getattr(obj, "__func__", obj)
            if isinstance(func, types.FunctionType):
                traced = functrace.trace(func)
                if traced is not func:
                    self_ = getattr(obj, "__self__", None)
                    item.obj = traced if self_ is None else types.MethodType(traced, self_)  # type: ignore[attr-defined]

    # ------------------------------------------------------------ each test
    #
    # Each test's lines stream to a file of its own (on the compiled fast path,
    # so a traced suite runs at the speed of lines written, and memory holds at
    # most one output chunk however chatty the test). The file is read back only
    # when the test fails, and kept only with --functrace-output.

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        path = self._trace_file(item)
        item.stash[_file_key] = path
        functrace.configure(output=str(path), max_lines=self.options.limit)
        # The test's children append to its file (their lines tagged with their
        # pids); only during the call: a fixture's server process is not a test's.
        before = (
            follow(self._children, {"FUNCTRACE_OUTPUT": str(path)})
            if self.options.children
            else None
        )
        try:
            return (yield)
        finally:
            if before is not None:
                unfollow(before)
            functrace.flush()
            item.stash[_dropped_key] = output.lines_dropped
            functrace.configure(output="none", max_lines=0)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when != "call":
            return report
        path = item.stash.get(_file_key, None)
        if path is None:
            return report
        keep = self.options.output is not None
        if report.failed:
            text, cut = self._section(path, item.stash.get(_dropped_key, 0))
            report.sections.append((SECTION, text))
            keep = keep or cut
        if not keep:
            try:
                path.unlink()  # a scratch file: its test has been reported
            except OSError:
                pass
        else:
            self._kept = True
        return report

    def _section(self, path: Path, dropped: int) -> tuple[str, bool]:
        """The section's text, and whether it leaves lines out (then the file is
        kept and named, for the rest)."""
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        # The file names the process and its threads and tasks (comment lines);
        # the report shows the calls, and its own notes.
        calls = [line for line in text.splitlines() if not _naming(line)]
        shown, left = explain(calls, self.options.lines)
        lines, cut = capped(shown, self.options.lines)
        if not lines:
            lines = ["(no traced calls)"]
        notes = [left] if left else []
        if cut:
            notes.append(f"{cut} of {cut + len(lines) - 1} lines cut (--functrace-lines)")
        if dropped:
            notes.append(
                f"{self.options.limit} lines written, {dropped} more dropped (--functrace-limit)"
            )
        partial = bool(left or cut or dropped)
        if partial:
            notes.append(f"full trace: {path}")
        return "\n".join(lines + [f"[functrace] {n}" for n in notes]), partial

    def _trace_file(self, item: pytest.Item) -> Path:
        directory = self.options.output if self.options.output is not None else self._scratch
        path = directory / file_name(item.nodeid)
        try:
            path.unlink()
        except OSError:
            pass
        return path


def file_name(nodeid: str) -> str:
    """A file name for a node id: ``tests/test_a.py::test_b[1]`` ->
    ``tests.test_a.py..test_b[1].log``; long ids are cut and keep a digest."""
    name = re.sub(r"[^\w.\-\[\]=,+]+", ".", nodeid.replace("::", ".."))
    if len(name) > 150:
        digest = hashlib.sha1(nodeid.encode()).hexdigest()[:10]
        name = f"{name[:138]}-{digest}"
    return name + ".log"


def _uses_monitoring() -> bool:
    return mode() == "monitor"


def _wrapped_in_place() -> bool:
    return mode() == "rewrite"


def _names(names: list[str], shown: int = 10) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _trace_module(module: types.ModuleType) -> bool:
    """3.12+: trace a test module's functions through their code objects, by the
    policy (the test file was pytest's to rewrite, so it is already imported)."""
    if not _uses_monitoring():
        return False
    from functrace.importhook._imported import trace_imported

    return trace_imported(module)


def _trace_namespace(module: types.ModuleType) -> None:
    """3.10/3.11: wrap the functions and methods a test module defines."""
    for name, value in list(vars(module).items()):
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            setattr(module, name, functrace.trace(value))
        elif isinstance(value, type) and value.__module__ == module.__name__:
            for attr, member in list(vars(value).items()):
                if isinstance(member, (types.FunctionType, staticmethod, classmethod)):
                    traced: Any = functrace.trace(member)
                    if traced is not member:
                        setattr(value, attr, traced)


def _naming(line: str) -> bool:
    return line.startswith("# ") and not line.startswith("# functrace:")
