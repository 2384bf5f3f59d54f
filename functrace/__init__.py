"""functrace: which call chain did this call come from?

``@functrace.trace`` on a function writes an indented, thread- and task-tagged
line when each call starts and ends::

    t[01]:    ->__main__.A1
    t[01]:        ->__main__.B1
    t[01]:        <-__main__.B1 2.10µs
    t[01]:    <-__main__.A1 8.50µs

``FUNCTRACE=0`` makes the decorator return the function untouched. This module
imports the standard library only.
"""

from __future__ import annotations

from typing import Any

from functrace._runtime.config import Settings
from functrace._runtime.decorator import configure, disable, enable, is_enabled, trace
from functrace._runtime.listeners import Recorder
from functrace._runtime.output import flush
from functrace._runtime.record import Call, Origin, Recording

__all__ = [
    "Call",
    "Origin",
    "Recording",
    "Settings",
    "configure",
    "context_from_headers",
    "disable",
    "enable",
    "flush",
    "install_import_hook",
    "is_enabled",
    "record",
    "trace",
]

__version__ = "0.1.0"


def record(limit: int | None = None) -> Recorder:
    """Keep the call tree of every traced call made inside the ``with`` block.

    ``with functrace.record() as rec: ...`` then ``rec.roots``: the outermost
    calls, in start order, of every thread and task. ``limit`` caps how many
    calls are kept (the rest are counted in ``rec.dropped``).
    """
    return Recorder(Recording(limit))


# Parts that need more than the standard library load when first used.
_LAZY = {
    "context_from_headers": "functrace.otel",
    "install_import_hook": "functrace.importhook",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'functrace' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
