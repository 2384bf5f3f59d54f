"""Trace modules as they are imported, without touching their files.

``handle = functrace.install_import_hook(include=["app", "app.*"])`` traces the
functions the policy picks (the same ones ``functrace instrument`` would decorate)
in each matching module; ``handle.uninstall()`` stops it.

On Python 3.12+ the module's own bytecode runs, untouched; the functions' code
objects are registered with ``sys.monitoring`` before it runs. Modules imported
before the hook are traced the same way, after the fact. On 3.10/3.11 each module
is rewritten at import (an innermost decorator, bytecode cached next to the normal
``.pyc``), and modules imported before the hook stay untraced, with one warning.
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from collections.abc import Iterable

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

    def __init__(self, finder: TracingFinder, seen: Iterable[str] = ()) -> None:
        self.finder = finder
        self._seen = set(seen)

    def trace_imported(self) -> list[str]:
        """Python 3.12+: trace the matching modules that were imported since the
        hook was installed but not through it (another finder ahead of it on
        ``sys.meta_path`` took them); their names. Never warns."""
        if mode() != "monitor":
            return []
        return trace_modules(self.finder.selector, seen=self._seen, warn=False)

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
) -> ImportHook:
    """Trace the modules whose names match an ``include`` glob (``app``, ``app.*``)
    and no ``exclude`` glob, as they are imported.

    ``under``: also take modules whose files lie under these directories (never the
    standard library, site-packages or a virtual environment). ``skip_files``: file
    name globs never taken (``test_*.py``). ``after``: insert
    the hook after the finders of this type on ``sys.meta_path`` (default: first).
    Matching modules imported before the hook are traced now on 3.12+; on
    3.10/3.11 they are not, and one warning names them.
    """
    selector = Selector(include, exclude, under, skip_files)
    seen: set[str] = set()
    trace_modules(selector, seen=seen, stacklevel=3)
    finder = TracingFinder(selector)
    insert(finder, after)
    return ImportHook(finder, seen)


def trace_modules(
    selector: Selector, seen: set[str] | None = None, warn: bool = True, stacklevel: int = 2
) -> list[str]:
    """Trace the already-imported modules ``selector`` takes (3.12+) and warn once
    naming those that cannot be traced; returns the names traced. ``seen``: names
    to pass over, and where the names looked at are added."""
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
    missed: list[str] = []
    if how == "monitor":
        from functrace.importhook._imported import trace_imported

        for name, module in taken:
            (traced if trace_imported(module) else missed).append(name)
    else:
        missed = [name for name, _ in taken]
    if missed and warn:
        missed.sort()
        shown = ", ".join(missed[:10]) + (
            f" and {len(missed) - 10} more" if len(missed) > 10 else ""
        )
        warnings.warn(
            f"functrace: already imported, so not traced: {shown}",
            RuntimeWarning,
            stacklevel=stacklevel + 1,
        )
    return traced


def _file(module: types.ModuleType) -> str | None:
    path = getattr(module, "__file__", None)
    return path if isinstance(path, str) else None
