"""The codemod behind ``functrace instrument`` and ``functrace strip``.

- :mod:`~functrace.codemod.policy`: which functions get traced (no libcst; shared
  with any other front end, such as an ``ast``-based import hook);
- :mod:`~functrace.codemod.instrument` / :mod:`~functrace.codemod.strip`: one
  source in, one :class:`~functrace.codemod.result.Result` out;
- :mod:`~functrace.codemod.files` and :mod:`~functrace.codemod.parallel`: trees of
  files, atomic writes, a process pool.

libcst is imported only by the modules that parse, so ``policy`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from functrace.codemod.result import Result, Status

if TYPE_CHECKING:
    from functrace.codemod.instrument import instrument_source
    from functrace.codemod.strip import strip_source

__all__ = ["Result", "Status", "instrument_source", "strip_source"]


def __getattr__(name: str) -> Any:
    if name == "instrument_source":
        from functrace.codemod.instrument import instrument_source

        return instrument_source
    if name == "strip_source":
        from functrace.codemod.strip import strip_source

        return strip_source
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
