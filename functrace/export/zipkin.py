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
from functrace.export._spans import Spanned, SpanWriter
from functrace.reading._stream import Output
from functrace.reading.scan import Scan

__all__ = ["ZipkinWriter"]


class ZipkinWriter(SpanWriter):
    layout = "zipkin"  # _spancode.c writes the spans of encode() below

    def __init__(self, out: Output, scan: Scan, debug: bool = False, **options: Any) -> None:
        super().__init__(out, scan, **options)
        self.debug = debug
        self.endpoint = f'"localEndpoint":{{"serviceName":{jstr(self.service_name)}}}'

    def encode_attributes(self, attributes: dict[str, str | int | bool]) -> str:
        return ",".join(f"{jstr(k)}:{jstr(_tag(v))}" for k, v in attributes.items())

    def parts(self, name: str, attributes: str) -> tuple[str, str, str, str]:
        """Before the start time, after the duration with no exception; after the
        duration with one, and the tags."""
        debug = ',"debug":true' if self.debug else ""
        after = f",{self.endpoint}{debug}"
        head = f',"name":{jstr(name)},"timestamp":'
        return head, f'{after},"tags":{{{attributes}}}}}', after, attributes

    def encode(self, span: Spanned, trace_id: str, span_id: str, parent_id: str, parts: Any) -> str:
        offset = self.known_offset
        start_ns, end_ns = span.start_ns, span.end_ns
        start = f"\x01{start_ns}\x01" if offset is None else (start_ns + offset) // 1000
        duration = -(-(end_ns - start_ns) // 1000) or 1  # µs, rounded up, at least 1
        parent = f',"parentId":"{parent_id}"' if parent_id else ""
        if span.exception is None:
            return (
                f'{{"traceId":"{trace_id}","id":"{span_id}"{parent}{parts[0]}{start},'
                f'"duration":{duration}{parts[1]}'
            )
        end = f"\x01{end_ns}\x01" if offset is None else (end_ns + offset) // 1000
        tags = f'{parts[3]},"error":{jstr(span.exception)}'
        value = jstr("exception: " + span.exception)
        return (
            f'{{"traceId":"{trace_id}","id":"{span_id}"{parent}{parts[0]}{start},'
            f'"duration":{duration}{parts[2]},"annotations":[{{"timestamp":{end},'
            f'"value":{value}}}],"tags":{{{tags}}}}}'
        )

    def prologue(self) -> str:
        return "[\n"

    def begin(self, key: str, index: int) -> str:
        return ",\n" if index else ""

    def end(self, key: str) -> str:
        return ""

    def epilogue(self) -> str:
        return "\n]\n"


def _tag(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
