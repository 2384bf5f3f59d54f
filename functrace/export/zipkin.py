"""Zipkin v2 JSON (a list of spans, as ``POST /api/v2/spans`` takes it).

Encoded by ``opentelemetry-exporter-zipkin-json``'s own v2 encoder: the
exception event becomes an annotation and the error status an ``error`` tag.
"""

from __future__ import annotations

import json
from typing import Any

from functrace.export.spans import to_spans
from functrace.reading.trace import Trace

__all__ = ["dumps", "to_zipkin"]


def to_zipkin(trace: Trace, service_name: str = "functrace", **span_options: Any) -> list[Any]:
    from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
    from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint

    spans = to_spans(trace, service_name=service_name, **span_options)
    endpoint = NodeEndpoint()
    endpoint.service_name = service_name
    text = JsonV2Encoder().serialize(spans, endpoint)  # type: ignore[arg-type]  # SDK spans
    encoded: list[dict[str, Any]] = json.loads(text)
    # The encoder writes null for what is unknown; Zipkin's model leaves it out.
    for span in encoded:
        for key in [k for k, v in span.items() if v is None]:
            del span[key]
        tags = span.get("tags") or {}
        for key in [k for k, v in tags.items() if v is None]:
            del tags[key]
    return encoded


def dumps(trace: Trace, **span_options: Any) -> str:
    return json.dumps(to_zipkin(trace, **span_options), ensure_ascii=False)
