"""Trace modules as they are imported, without touching their files.

``handle = functrace.install_import_hook(include=["app", "app.*"])`` rewrites each
matching module at import (an innermost ``@functrace.trace`` on the functions the
policy picks, the same ones ``functrace instrument`` would decorate) and caches the
rewritten bytecode next to the normal ``.pyc``; ``handle.uninstall()`` stops it.
Modules imported before the hook are left alone.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable

from functrace.importhook._loader import TracingFinder, compile_traced, insert, prepare
from functrace.importhook._select import Selector

__all__ = ["ImportHook", "compile_traced", "install_import_hook", "prepare"]


class ImportHook:
    """What :func:`install_import_hook` returns; ``uninstall()`` removes the hook
    (modules already rewritten stay traced)."""

    def __init__(self, finder: TracingFinder) -> None:
        self.finder = finder

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
    Already-imported matching modules are not traced; one warning names them.
    """
    include, exclude = list(include), list(exclude)
    selector = Selector(include, exclude, under, skip_files)
    already = sorted(name for name in list(sys.modules) if include and selector.matches_name(name))
    if already:
        shown = ", ".join(already[:10]) + (
            f" and {len(already) - 10} more" if len(already) > 10 else ""
        )
        warnings.warn(
            f"functrace: already imported, so not traced: {shown}",
            RuntimeWarning,
            stacklevel=2,
        )
    finder = TracingFinder(selector)
    insert(finder, after)
    return ImportHook(finder)
