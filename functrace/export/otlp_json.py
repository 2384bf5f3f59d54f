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
    layout = "otlp"  # _spancode.c writes the spans of encode() below

    def encode_attributes(self, attributes: dict[str, str | int | bool]) -> str:
        return _attributes(attributes)

    def parts(self, name: str, attributes: str) -> tuple[str, str, str]:
        """Before the start time, after the end time with no exception; the attributes."""
        head = f',"name":{jstr(name)},"kind":{_KIND_INTERNAL},"startTimeUnixNano":"'
        return head, f'","attributes":[{attributes}],"status":{{}}}}', attributes

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
        exc = jstr(span.exception)
        # OpenTelemetry's exception event: its type, and its message when the trace
        # has it (FUNCTRACE_ARGS: what the exception says), as the SDK path writes it.
        said = ""
        if span.returned is not None:
            said = f',{{"key":"exception.message","value":{{"stringValue":{jstr(span.returned)}}}}}'
        return (
            f'{{"traceId":"{trace_id}","spanId":"{span_id}"{parent}{parts[0]}{start}",'
            f'"endTimeUnixNano":"{end}","attributes":[{parts[2]}],'
            f'"events":[{{"timeUnixNano":"{end}","name":"exception","attributes":'
            f'[{{"key":"exception.type","value":{{"stringValue":{exc}}}}}{said}]}}],'
            f'"status":{{"code":{_STATUS_ERROR},"message":{exc}}}}}'
        )

    def prologue(self) -> str:
        return '{"resourceSpans":['

    def begin(self, key: str, index: int) -> str:
        resource: dict[str, str | int | bool] = {"service.name": self.service_name}
        if key != "1":
            resource["process.pid"] = int(key)
        return (
            f'{"," if index else ""}\n{{"resource":{{"attributes":[{_attributes(resource)}]}},'
            f'"scopeSpans":[{{"scope":{{"name":"functrace"}},"spans":[\n'
        )

    def end(self, key: str) -> str:
        return "\n]}]}"

    def epilogue(self) -> str:
        return "\n]}\n"
