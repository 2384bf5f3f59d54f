"""Trace modules as they are imported, without touching their files.

``handle = functrace.install_import_hook(include=["app", "app.*"])`` traces the
functions the policy picks (the same ones ``functrace instrument`` would decorate)
in each matching module; ``handle.uninstall()`` stops it.

On Python 3.12+ the module's own bytecode runs, untouched; the functions' code
objects are registered with ``sys.monitoring`` before it runs. Modules imported
before the hook are traced the same way, after the fact. On 3.10/3.11 each module
is rewritten at import (an innermost decorator, bytecode cached next to the normal
``.pyc``); the functions and methods of modules imported before the hook are
wrapped in place (references taken earlier, ``from m import f``, stay untraced).
Modules that cannot be traced at all (no source) are named in one notice, which
never raises (``-W error``), or kept on the handle for the caller to report.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable

from functrace._runtime.state import own_work
from functrace.importhook._loader import (
    TracingFinder,
    TracingLoader,
    compile_traced,
    insert,
    mode,
    prepare,
)
from functrace.importhook._select import Selector

__all__ = [
    "ImportHook",
    "compile_traced",
    "install_import_hook",
    "mode",
    "prepare",
    "trace_modules",
]


class ImportHook:
    """What :func:`install_import_hook` returns; ``uninstall()`` removes the hook
    (modules already rewritten stay traced)."""

    def __init__(
        self,
        finder: TracingFinder,
        seen: Iterable[str] = (),
        before: Iterable[str] = (),
        untraced: Iterable[str] = (),
    ) -> None:
        self.finder = finder
        self._seen = set(seen)
        #: Matching modules imported before the hook: those traced after the fact
        #: (3.10/3.11: wrapped in place), and those that could not be (no source).
        self.traced_before = sorted(before)
        self.untraced = sorted(untraced)

    @property
    def taken(self) -> list[str]:
        """The modules traced so far: through the hook, or after the fact."""
        return [*self.traced_before, *self.finder.taken]

    def trace_imported(self) -> list[str]:
        """Python 3.12+: trace the matching modules that were imported since the
        hook was installed but not through it (another finder ahead of it on
        ``sys.meta_path`` took them); their names. Never warns."""
        if mode() != "monitor":
            return []
        traced = trace_modules(self.finder.selector, seen=self._seen, warn=False)
        self.traced_before += traced
        return traced

    @property
    def installed(self) -> bool:
        return self.finder in sys.meta_path

    def uninstall(self) -> None:
        while self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)

    def __enter__(self) -> ImportHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def install_import_hook(
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    *,
    under: Iterable[str | os.PathLike[str]] = (),
    skip_files: Iterable[str] = (),
    after: type | None = None,
    warn: bool = True,
) -> ImportHook:
    """Trace the modules whose names match an ``include`` glob (``app``, ``app.*``)
    and no ``exclude`` glob, as they are imported.

    ``under``: also take modules whose files lie under these directories (never the
    standard library, site-packages or a virtual environment). ``skip_files``: file
    name globs never taken (``test_*.py``). ``after``: insert
    the hook after the finders of this type on ``sys.meta_path`` (default: first).
    Matching modules imported before the hook are traced now (3.10/3.11: their
    functions wrapped in place); one notice names those that cannot be, unless
    ``warn`` is False (the handle's ``untraced`` lists them).
    """
    selector = Selector(include, exclude, under, skip_files)
    seen: set[str] = set()
    untraced: list[str] = []
    before = trace_modules(selector, seen=seen, warn=warn, stacklevel=3, missed=untraced)
    finder = TracingFinder(selector)
    insert(finder, after)
    return ImportHook(finder, seen, before, untraced)


def trace_modules(
    selector: Selector,
    seen: set[str] | None = None,
    warn: bool = True,
    stacklevel: int = 2,
    missed: list[str] | None = None,
) -> list[str]:
    """Trace the already-imported modules ``selector`` takes and give one notice
    naming those that cannot be traced; returns the names traced. ``seen``: names
    to pass over, and where the names looked at are added; ``missed``: where the
    names not traced are added."""
    seen = set() if seen is None else seen
    taken = []
    for name, module in list(sys.modules.items()):
        if name in seen or not isinstance(module, types.ModuleType):
            continue
        if isinstance(getattr(module.__spec__, "loader", None), TracingLoader):
            continue  # the hook's own
        if selector.takes(name, _file(module)):
            taken.append((name, module))
    seen.update(name for name, _ in taken)
    if not taken:
        return []
    how = mode()
    if how == "off":
        return []
    traced: list[str] = []
    failed: list[str] = []
    with own_work():  # whatever this calls (our own imports too) writes no line
        from functrace.importhook._imported import trace_imported, wrap_imported

        after = trace_imported if how == "monitor" else wrap_imported
        for name, module in taken:
            (traced if after(module) else failed).append(name)
    failed.sort()
    if missed is not None:
        missed += failed
    if failed and warn:
        from functrace._runtime.notices import notice

        shown = ", ".join(failed[:10]) + (
            f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        )
        notice(f"functrace: already imported, so not traced: {shown}", stacklevel=stacklevel + 1)
    return traced


def _file(module: types.ModuleType) -> str | None:
    path = getattr(module, "__file__", None)
    return path if isinstance(path, str) else None
