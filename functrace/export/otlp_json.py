"""OTLP JSON (an ``ExportTraceServiceRequest``), as an OTLP/HTTP JSON endpoint takes it.

Written as read, in protobuf's JSON mapping of ``opentelemetry-proto`` with
OTLP's two departures from it: trace and span ids as hex, enums as integers.
One ``ResourceSpans`` per process run (``service.name``, ``process.pid``),
each with its own trace id.
"""

from __future__ import annotations

from typing import Any

from functrace.export._base import jstr
from functrace.export._spans import Spanned, SpanWriter

__all__ = ["OtlpJsonWriter"]

_KIND_INTERNAL = 1
_STATUS_ERROR = 2


def _value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return f'{{"boolValue":{"true" if value else "false"}}}'
    if isinstance(value, int):
        return f'{{"intValue":"{value}"}}'
    return f'{{"stringValue":{jstr(value)}}}'


def _attributes(attributes: dict[str, str | int | bool]) -> str:
    return ",".join(f'{{"key":{jstr(k)},"value":{_value(v)}}}' for k, v in attributes.items())


class OtlpJsonWriter(SpanWriter):
    def encode_attributes(self, attributes: dict[str, str | int | bool]) -> str:
        return _attributes(attributes)

    def parts(self, name: str, attributes: str) -> tuple[str, str, str, str]:
        """Around the times, with no exception; the name and attributes for one."""
        head = f',"name":{jstr(name)},"kind":{_KIND_INTERNAL},"startTimeUnixNano":"'
        return head, f'","attributes":[{attributes}],"status":{{}}}}', head, attributes

    def encode(self, span: Spanned, trace_id: str, span_id: str, parent_id: str, parts: Any) -> str:
        offset = self.known_offset
        parent = f',"parentSpanId":"{parent_id}"' if parent_id else ""
        if span.exception is None:
            if offset is None:  # one string, the times as markers: the common case
                return (
                    f'{{"traceId":"{trace_id}","spanId":"{span_id}"{parent}{parts[0]}'
                    f'\x00{span.start_ns}\x00","endTimeUnixNano":"\x00{span.end_ns}\x00{parts[1]}'
                )
            return (
                f'{{"traceId":"{trace_id}","spanId":"{span_id}"{parent}{parts[0]}'
                f'{span.start_ns + offset}","endTimeUnixNano":"{span.end_ns + offset}{parts[1]}'
            )
        if offset is None:
            start, end = f"\x00{span.start_ns}\x00", f"\x00{span.end_ns}\x00"
        else:
            start, end = str(span.start_ns + offset), str(span.end_ns + offset)
        ids = f'{{"traceId":"{trace_id}","spanId":"{span_id}"{parent}'
        exc = jstr(span.exception)
        return (
            f'{ids}{parts[2]}{start}","endTimeUnixNano":"{end}","attributes":[{parts[3]}],'
            f'"events":[{{"timeUnixNano":"{end}","name":"exception","attributes":'
            f'[{{"key":"exception.type","value":{{"stringValue":{exc}}}}}]}}],'
            f'"status":{{"code":{_STATUS_ERROR},"message":{exc}}}}}'
        )

    def write_all(self, epoch_offset_ns: int) -> None:
        out = self.out
        out.write('{"resourceSpans":[')
        for i, key in enumerate(self.spool.keys()):
            resource = {"service.name": self.service_name}
            pid: dict[str, str | int | bool] = {"process.pid": int(key)} if key != "1" else {}
            out.write(
                f'{"," if i else ""}\n{{"resource":{{"attributes":'
                f"[{_attributes({**resource, **pid})}]}},"
                f'"scopeSpans":[{{"scope":{{"name":"functrace"}},"spans":[\n'
            )
            self.copy(key, epoch_offset_ns)
            out.write("\n]}]}")
        out.write("\n]}\n")
