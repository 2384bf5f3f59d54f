"""Which modules the hook rewrites: module-name globs, or files under directories.

A module is taken when its name matches an ``include`` glob, or its file lies under
one of the ``under`` directories, outside the standard library, site-packages and
any virtual environment; and its name matches no ``exclude`` glob, nor its file
name a ``skip_files`` glob (``test_*.py``: pytest rewrites those). functrace's own
modules are never taken (functrace tracing itself would recurse).
"""

from __future__ import annotations

import fnmatch
import os
import re
import sysconfig
from collections.abc import Iterable

__all__ = ["Selector"]


def _globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = [fnmatch.translate(p) for p in patterns if p]
    return re.compile("|".join(parts)) if parts else None


_OWN_DIR = os.path.join(os.path.dirname(os.path.realpath(os.path.dirname(__file__))), "")
_OWN_NAMES = re.compile(r"functrace(?:\.|\Z)")


class Selector:
    def __init__(
        self,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        under: Iterable[str | os.PathLike[str]] = (),
        skip_files: Iterable[str] = (),
    ) -> None:
        self.skip_files = _globs(skip_files)
        self.include = _globs(include)
        self.exclude = _globs(exclude)
        self.under = tuple(os.path.join(os.path.realpath(d), "") for d in under)
        self._venv_dirs: dict[str, bool] = {}
        self._real_dirs: dict[str, str] = {}
        self._system = tuple(
            os.path.join(os.path.realpath(p), "")
            for p in {sysconfig.get_path(n) for n in ("stdlib", "platstdlib", "purelib", "platlib")}
            if p
        )

    def by_name(self, name: str) -> bool | None:
        """True/False when the name decides; None when the file must be looked at."""
        if _OWN_NAMES.match(name):
            return False
        if self.exclude is not None and self.exclude.match(name):
            return False
        if self.include is not None and self.include.match(name):
            return True
        return None if self.under else False

    def matches_name(self, name: str) -> bool:
        return self.by_name(name) is True

    def by_file(self, path: str) -> bool:
        """False for files whose names match a ``skip_files`` glob, and functrace's."""
        if self.skip_files is not None and self.skip_files.match(os.path.basename(path)):
            return False
        return not self._real(path).startswith(_OWN_DIR)

    def _real(self, path: str) -> str:
        """``os.path.realpath(path)``, resolving each directory once."""
        if os.path.islink(path):
            return os.path.realpath(path)
        head, tail = os.path.split(path)
        real = self._real_dirs.get(head)
        if real is None:
            real = self._real_dirs[head] = os.path.realpath(head)
        return os.path.join(real, tail)

    def takes(self, name: str, path: str | None) -> bool:
        """The finder's whole decision, for a module found at ``path`` (already
        imported ones: ``__file__``)."""
        by_name = self.by_name(name)
        if by_name is False or path is None or not self.by_file(path):
            return False
        return by_name is True or self.by_path(path)

    def by_path(self, path: str) -> bool:
        real = self._real(path)
        if not any(real.startswith(d) for d in self.under):
            return False
        if any(real.startswith(d) for d in self._system):
            return False
        parts = real.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return False
        return not self._in_venv(os.path.dirname(real))

    def _in_venv(self, directory: str) -> bool:
        """True if ``directory`` or a parent (up to an ``under`` root) is a virtual
        environment (holds ``pyvenv.cfg``)."""
        known = self._venv_dirs.get(directory)
        if known is not None:
            return known
        parent = os.path.dirname(directory)
        if os.path.isfile(os.path.join(directory, "pyvenv.cfg")):
            result = True
        elif parent == directory or os.path.join(directory, "") in self.under:
            result = False
        else:
            result = self._in_venv(parent)
        self._venv_dirs[directory] = result
        return result
