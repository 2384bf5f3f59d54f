"""Live OpenTelemetry: every traced call becomes a span (``FUNCTRACE_EXPORTER=otel``).

:func:`install` adds a span observer to the engine. Spans go through the
OpenTelemetry API, to the global tracer provider if the program (or
``opentelemetry-instrument``) set one, else to an SDK provider configured by the
standard ``OTEL_*`` variables (``OTEL_TRACES_EXPORTER``, ``OTEL_SERVICE_NAME``,
``OTEL_EXPORTER_OTLP_ENDPOINT``...). They nest under the current OpenTelemetry
context, so they join a web framework's request spans; with no current span,
a ``TRACEPARENT`` environment variable is the parent.

:func:`context_from_headers` turns incoming HTTP headers (W3C ``traceparent``,
B3 single or multi-header) into the parent for a block of code.

Needs the ``otel`` extra; the runtime imports this package only when asked to.
"""

from __future__ import annotations

try:
    from functrace.otel._install import install, uninstall
    from functrace.otel._observer import SpanObserver
    from functrace.otel.propagation import (
        RemoteParent,
        context_from_headers,
        context_from_traceparent,
    )
except ImportError as exc:  # said once, by whoever asked for the exporter
    raise ImportError(
        f"functrace.otel needs the otel extra (pip install 'pyfunctrace[otel]'): {exc}"
    ) from exc

__all__ = [
    "RemoteParent",
    "SpanObserver",
    "context_from_headers",
    "context_from_traceparent",
    "install",
    "uninstall",
]
