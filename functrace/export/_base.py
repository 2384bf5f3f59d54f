"""What every streaming exporter shares: a consumer that writes to an open file."""

from __future__ import annotations

import json
from typing import Any

from functrace.reading._stream import Frame, Output
from functrace.reading.scan import Scan

__all__ = ["Writer", "jstr", "load_timelinecode"]

#: The version of _timelinecode.c this package is written for (another build is not used).
_TIMELINECODE_API = 1


def load_timelinecode() -> Any:
    """The optional compiled half of the chrome and speedscope writers' ``opened`` and
    ``closed`` (setup.py): their common calls, the same bytes
    (tests/export/test_timelinecode_c.py)."""
    try:
        from functrace.export import _timelinecode
    except ImportError:
        return None
    return _timelinecode if getattr(_timelinecode, "API", None) == _TIMELINECODE_API else None


_STRINGS: dict[str, str] = {}


def jstr(text: str) -> str:
    """``json.dumps(text)``, remembered: names and tags repeat on every call."""
    encoded = _STRINGS.get(text)
    if encoded is None:
        encoded = json.dumps(text, ensure_ascii=False)
        if len(_STRINGS) < 100_000:
            _STRINGS[text] = encoded
    return encoded


class Writer:
    """A consumer for :func:`~functrace.reading.scan_trace`; :meth:`finish` writes the rest.

    ``scan`` is the scan being run (its thread names grow as the trace is read).
    """

    def __init__(self, out: Output, scan: Scan) -> None:
        self.out = out
        self.scan = scan

    def opened(self, frame: Frame) -> None:
        pass

    def closed(self, frame: Frame) -> None:
        pass

    def finish(self, end_ns: int, epoch_offset_ns: int) -> None:
        """``end_ns``: where the trace ends on its clock; add ``epoch_offset_ns`` for epoch time."""
