"""Incoming trace context, extracted by OpenTelemetry's own propagators."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.b3 import B3MultiFormat
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["RemoteParent", "context_from_headers", "context_from_traceparent"]

# B3MultiFormat reads the single ``b3`` header too. W3C extracts last, so it
# wins when a proxy sent both.
_PROPAGATOR = CompositePropagator([B3MultiFormat(), TraceContextTextMapPropagator()])


class RemoteParent:
    """The span context a request came with.

    ``with functrace.context_from_headers(request.headers): handle()`` makes it
    the parent of every span started in the block; ``.context`` is the
    OpenTelemetry :class:`~opentelemetry.context.Context` itself, for
    ``tracer.start_as_current_span(..., context=parent.context)``. With no (or
    invalid) trace headers the block runs under the current context unchanged.
    """

    def __init__(self, context: Context) -> None:
        self.context = context
        self._tokens: list[object] = []

    @property
    def span_context(self) -> trace.SpanContext:
        return trace.get_current_span(self.context).get_span_context()

    @property
    def is_valid(self) -> bool:
        return self.span_context.is_valid

    def __enter__(self) -> RemoteParent:
        token = otel_context.attach(self.context) if self.is_valid else None
        self._tokens.append(token)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token = self._tokens.pop()
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        sc = self.span_context
        if not sc.is_valid:
            return "<RemoteParent none>"
        return f"<RemoteParent trace_id={sc.trace_id:032x} span_id={sc.span_id:016x}>"


def context_from_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> RemoteParent:
    """W3C ``traceparent``/``tracestate``, B3 ``b3`` or ``X-B3-*``; names in any case.

    Takes a mapping (a dict, a framework's headers object) or (name, value) pairs.
    """
    items = headers.items() if isinstance(headers, Mapping) else headers
    carrier: dict[str, str] = {}
    for name, value in items:
        carrier.setdefault(str(name).lower(), str(value))
    return RemoteParent(_PROPAGATOR.extract(carrier, context=Context()))


def context_from_traceparent(traceparent: str, tracestate: str | None = None) -> RemoteParent:
    """A ``TRACEPARENT``-style value (and optional ``TRACESTATE``)."""
    headers = {"traceparent": traceparent}
    if tracestate:
        headers["tracestate"] = tracestate
    return context_from_headers(headers)
