"""A :class:`~functrace.reading.Trace` to the formats trace viewers and back ends read.

``chrome`` and ``speedscope`` are timelines of every run (a generator or
coroutine's runs between suspensions show as separate slices); ``otlp-json``
and ``zipkin`` are spans (see :mod:`functrace.export.spans`) and need the
``otel`` extra. Every exporter returns text ready to write.
"""

from __future__ import annotations

import importlib
from typing import Any

from functrace.reading.trace import Trace

__all__ = ["FORMATS", "export"]

#: format name -> module holding ``dumps(trace, **options) -> str``.
FORMATS: dict[str, str] = {
    "chrome": "functrace.export.chrome",
    "speedscope": "functrace.export.speedscope",
    "otlp-json": "functrace.export.otlp_json",
    "zipkin": "functrace.export.zipkin",
}


def export(trace: Trace, format: str, **options: Any) -> str:
    """``format`` is one of :data:`FORMATS`; options go to that exporter's ``dumps``."""
    module = importlib.import_module(FORMATS[format])
    text: str = module.dumps(trace, **options)
    return text
