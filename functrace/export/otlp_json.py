"""OTLP JSON (an ``ExportTraceServiceRequest``), as an OTLP/HTTP JSON endpoint takes it.

Encoded by OpenTelemetry's own OTLP encoder into ``opentelemetry-proto``
messages, then protobuf's JSON mapping with OTLP's two departures from it:
trace and span ids as hex, enums as integers.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from functrace.export.spans import to_spans
from functrace.reading.trace import Trace

__all__ = ["dumps", "to_otlp_json"]

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def to_otlp_json(trace: Trace, **span_options: Any) -> dict[str, Any]:
    request = encode_spans(to_spans(trace, **span_options))
    data: dict[str, Any] = MessageToDict(request, use_integers_for_enums=True)
    _hex_ids(data)
    return data


def _hex_ids(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def dumps(trace: Trace, **span_options: Any) -> str:
    return json.dumps(to_otlp_json(trace, **span_options), ensure_ascii=False)
