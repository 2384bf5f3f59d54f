"""Text kept per key (a profile, a process) until the end, in bounded memory.

Formats that nest what a trace interleaves (speedscope's profile per thread,
OTLP's resource per process) cannot write as they read. The spool keeps each
key's pieces in memory up to ``limit`` characters in all, then moves them to
one temporary file; :meth:`read` gives a key's text back in order.
"""

from __future__ import annotations

import codecs
import tempfile
from collections.abc import Iterator
from typing import IO

__all__ = ["Spool"]

_READ = 1 << 20


class Spool:
    def __init__(self, limit: int = 8 << 20) -> None:
        self.limit = limit
        #: key -> its pieces, in order: text in memory, or (offset, length) in the file.
        self.parts: dict[str, list[str | tuple[int, int]]] = {}
        self.size = 0
        self.file: IO[bytes] | None = None

    def add(self, key: str, text: str) -> None:
        parts = self.parts.get(key)
        if parts is None:
            parts = self.parts[key] = []
        parts.append(text)
        self.size += len(text)
        if self.size > self.limit:
            self._spill()

    def _spill(self) -> None:
        if self.file is None:
            # Lives until close(): the export's end, not one block.
            self.file = tempfile.TemporaryFile(prefix="functrace-export-")  # noqa: SIM115
        f = self.file
        f.seek(0, 2)
        for parts in self.parts.values():
            first = len(parts)
            while first > 0 and isinstance(parts[first - 1], str):
                first -= 1
            if first == len(parts):
                continue
            data = "".join(parts[first:]).encode("utf-8")  # type: ignore[arg-type]
            del parts[first:]
            parts.append((f.tell(), len(data)))
            f.write(data)
        self.size = 0

    def keys(self) -> list[str]:
        return list(self.parts)

    def read(self, key: str) -> Iterator[str]:
        for part in self.parts.get(key, []):
            if isinstance(part, str):
                yield part
                continue
            assert self.file is not None
            offset, length = part
            decoder = codecs.getincrementaldecoder("utf-8")()  # a read may split a character
            while length > 0:
                self.file.seek(offset)
                data = self.file.read(min(length, _READ))
                offset += len(data)
                length -= len(data)
                yield decoder.decode(data, final=length <= 0)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
