"""Zipkin v2 JSON (a list of spans, as ``POST /api/v2/spans`` takes it), written as read.

Follows ``zipkin2-api.yaml``: ids in lower-case hex, ``timestamp`` and
``duration`` in microseconds with ``duration`` at least 1 (Zipkin rounds
sub-microsecond spans up the same way), string tags only, no ``kind`` (a local
call is none of Zipkin's kinds) and no ``debug`` flag unless asked.
The exception is an ``error`` tag and an annotation at the span's end.
"""

from __future__ import annotations

from typing import Any

from functrace.export._base import jstr
from functrace.export._spans import Span, SpanWriter
from functrace.reading._stream import Output
from functrace.reading.scan import Scan

__all__ = ["ZipkinWriter"]


class ZipkinWriter(SpanWriter):
    def __init__(self, out: Output, scan: Scan, debug: bool = False, **options: Any) -> None:
        super().__init__(out, scan, **options)
        self.debug = debug
        self.endpoint = f'"localEndpoint":{{"serviceName":{jstr(self.service_name)}}}'

    def encode_attributes(self, attributes: dict[str, str | int | bool]) -> str:
        return ",".join(f"{jstr(k)}:{jstr(_tag(v))}" for k, v in attributes.items())

    def encode(self, span: Span, attributes: str) -> str:
        offset = self.known_offset
        if offset is None:
            start, end = f"\x01{span.start}\x01", f"\x01{span.end}\x01"
        else:
            start, end = str((span.start + offset) // 1000), str((span.end + offset) // 1000)
        duration = -(-(span.end - span.start) // 1000) or 1  # µs, rounded up, at least 1
        parent = f',"parentId":"{span.parent_id}"' if span.parent_id else ""
        debug = ',"debug":true' if self.debug else ""
        annotations = ""
        if span.exception is not None:
            attributes += f',"error":{jstr(span.exception)}'
            value = jstr("exception: " + span.exception)
            annotations = f',"annotations":[{{"timestamp":{end},"value":{value}}}]'
        return (
            f'{{"traceId":"{span.trace_id}","id":"{span.span_id}"{parent},'
            f'"name":{jstr(span.name)},"timestamp":{start},"duration":{duration},'
            f"{self.endpoint}{debug}{annotations},"
            f'"tags":{{{attributes}}}}}'
        )

    def write_all(self, epoch_offset_ns: int) -> None:
        self.out.write("[\n")
        for i, key in enumerate(self.spool.keys()):
            if i:
                self.out.write(",\n")
            self.copy(key, epoch_offset_ns)
        self.out.write("\n]\n")


def _tag(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
