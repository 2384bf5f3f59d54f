"""The pytest plugin's working parts; :mod:`functrace.pytest_plugin` (the ``pytest11``
entry point) registers :class:`~functrace.pytest._session.FunctracePlugin` only when
``--functrace`` (or the ``functrace`` ini option) asks for it."""

from __future__ import annotations

from functrace.pytest._format import capped
from functrace.pytest._session import FunctracePlugin, Options

__all__ = ["FunctracePlugin", "Options", "capped"]
