"""A batch span processor that never blocks a traced call and bounds the wait at exit.

The SDK's ``BatchSpanProcessor`` waits up to 30 s at exit for a dead or slow
collector and logs every retry and every full queue. This one:

* queues ended spans without waiting (a full queue drops the span and counts it);
* exports from one daemon thread, in batches, every ``OTEL_BSP_SCHEDULE_DELAY``
  ms or as soon as a batch is full (``OTEL_BSP_MAX_QUEUE_SIZE`` and
  ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` are honoured, with the SDK's defaults);
* at shutdown (the tracer provider's ``atexit``) sends what is queued for at most
  ``FUNCTRACE_OTEL_EXIT_TIMEOUT`` seconds (default 2), then gives up: an export
  still in flight is abandoned with its daemon thread;
* keeps the exporter's own warnings (retries, connection errors) quiet and, at
  shutdown, writes one line to stderr saying how many spans were not delivered.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, set_value
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = [
    "DEFAULT_EXIT_TIMEOUT",
    "EXIT_TIMEOUT_VAR",
    "BoundedBatchSpanProcessor",
    "ExitBudget",
    "exit_timeout_from_env",
]

EXIT_TIMEOUT_VAR = "FUNCTRACE_OTEL_EXIT_TIMEOUT"
#: Seconds the program's exit may wait for spans still to be sent.
DEFAULT_EXIT_TIMEOUT = 2.0

# The SDK's defaults for the standard OTEL_BSP_* variables.
_BSP_DEFAULTS = {
    "OTEL_BSP_SCHEDULE_DELAY": 5000,
    "OTEL_BSP_MAX_QUEUE_SIZE": 2048,
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": 512,
}


def notice(message: str) -> None:
    """One line on stderr; never raises (not even under ``python -W error``)."""
    try:
        sys.stderr.write(f"functrace: {message}\n")
        sys.stderr.flush()
    except Exception:  # a closed or broken stderr: nothing to say it on
        pass


def exit_timeout_from_env() -> float:
    raw = os.environ.get(EXIT_TIMEOUT_VAR, "").strip()
    if not raw:
        return DEFAULT_EXIT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0.0 or value == float("inf"):
        notice(
            f"{EXIT_TIMEOUT_VAR}={raw!r} is not a number of seconds >= 0; "
            f"using {DEFAULT_EXIT_TIMEOUT:g}"
        )
        return DEFAULT_EXIT_TIMEOUT
    return value


def _bsp_setting(name: str) -> int:
    default = _BSP_DEFAULTS[name]
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        notice(f"{name}={raw!r} is not a positive integer; using {default}")
        return default
    return value


class ExitBudget:
    """One exit wait shared by the processors of one provider: the first
    shutdown starts the clock, the others get what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline: float | None = None

    def deadline(self) -> float:
        if self._deadline is None:
            self._deadline = time.monotonic() + self.seconds
        return self._deadline


class _QuietExportThreads(logging.Filter):
    """Hides WARNING+ records logged from our export threads (retries,
    connection errors, "already shutdown"): the shutdown notice sums them up.
    Records from any other thread pass untouched."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[int, BoundedBatchSpanProcessor] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        owner = self.threads.get(record.thread or 0)
        if owner is None or record.levelno < logging.WARNING:
            return True
        try:
            owner.note_error(record)
        except Exception:
            pass
        return False

    @contextmanager
    def own_thread(self, owner: BoundedBatchSpanProcessor) -> Iterator[None]:
        ident = threading.get_ident()
        self.threads[ident] = owner
        try:
            yield
        finally:
            self.threads.pop(ident, None)


_quiet = _QuietExportThreads()
_quieted: set[str] = set()
_quiet_lock = threading.Lock()


def _quiet_loggers(exporter: SpanExporter) -> None:
    """Put the filter on the exporter's logger and every OpenTelemetry logger
    that exists by now (a logger's filters see only its own records)."""
    names = [type(exporter).__module__, "urllib3.connectionpool"]
    names += [
        name
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if name.startswith("opentelemetry") and isinstance(logger, logging.Logger)
    ]
    with _quiet_lock:
        for name in names:
            if name not in _quieted:
                _quieted.add(name)
                logging.getLogger(name).addFilter(_quiet)


class BoundedBatchSpanProcessor(SpanProcessor):
    """Batches spans to ``exporter`` from a daemon thread; see the module docstring."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        exit_timeout: float | None = None,
        budget: ExitBudget | None = None,
        max_queue_size: int | None = None,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
    ) -> None:
        self.exporter = exporter
        if budget is None:
            budget = ExitBudget(exit_timeout_from_env() if exit_timeout is None else exit_timeout)
        self.budget = budget
        self.max_queue_size = max_queue_size or _bsp_setting("OTEL_BSP_MAX_QUEUE_SIZE")
        self.schedule_delay = (
            schedule_delay_millis or _bsp_setting("OTEL_BSP_SCHEDULE_DELAY")
        ) / 1000
        self.max_export_batch_size = min(
            max_export_batch_size or _bsp_setting("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
            self.max_queue_size,
        )
        #: The last warning or error the exporter logged from our thread.
        self.last_error: str | None = None
        self._error_from_exception = False
        self._closed = False  # shutdown began: new spans are not queued
        self._stop = False  # the exit wait is over: the worker starts no export
        self._reported = False
        self._start_state()
        _quiet_loggers(exporter)
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._start_state)

            def after_in_child() -> None:
                method = ref()
                if method is not None:
                    method()

            os.register_at_fork(after_in_child=after_in_child)

    def _start_state(self) -> None:
        """Fresh queue, counters and worker (at start, and in a forked child)."""
        self._queue: deque[ReadableSpan] = deque()
        self._wake = threading.Event()
        self._flush_waiters: list[threading.Event] = []
        self._count_lock = threading.Lock()  # only ever held for a few counts
        self.dropped = 0  # spans refused because the queue was full
        self.late = 0  # spans ended after shutdown began
        self.delivered = 0
        self.failed = 0  # in batches the exporter reported as failed (or raised on)
        self._in_flight = 0
        self._worker = threading.Thread(
            target=self._work, name="functrace-otel-export", daemon=True
        )
        self._worker.start()

    # -- the traced program's side: never waits on the export ------------------

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        queue = self._queue
        if self._closed or len(queue) >= self.max_queue_size:
            with self._count_lock:  # only ever held for an increment
                if self._closed:
                    self.late += 1
                else:
                    self.dropped += 1
            return
        queue.append(span)
        if len(queue) >= self.max_export_batch_size and not self._wake.is_set():
            self._wake.set()

    # -- the export thread ---------------------------------------------------

    def _work(self) -> None:
        attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))  # this thread's context
        with _quiet.own_thread(self):
            while not self._stop:
                self._wake.wait(self.schedule_delay)
                self._wake.clear()
                waiters, self._flush_waiters = self._flush_waiters, []
                self._send_queued()
                for waiter in waiters:
                    waiter.set()
                if self._closed:
                    return

    def _send_queued(self) -> None:
        queue, size = self._queue, self.max_export_batch_size
        while queue and not self._stop:
            with self._count_lock:
                batch = [queue.popleft() for _ in range(min(size, len(queue)))]
                self._in_flight = len(batch)
            try:
                result = self.exporter.export(batch)
            except Exception as exc:
                result = SpanExportResult.FAILURE
                self.note_error(exc)
            with self._count_lock:
                if result is SpanExportResult.SUCCESS:
                    self.delivered += len(batch)
                else:
                    self.failed += len(batch)
                self._in_flight = 0

    # -- flush and shutdown ----------------------------------------------------

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._closed or not self._worker.is_alive():
            return not self._queue
        done = threading.Event()
        self._flush_waiters.append(done)
        self._wake.set()
        return done.wait(timeout_millis / 1000)

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        deadline = self.budget.deadline()
        self._wake.set()
        if self._worker.is_alive() and self._worker is not threading.current_thread():
            self._worker.join(max(0.0, deadline - time.monotonic()))
        self._stop = True  # if it is still exporting, it starts nothing more
        self._shutdown_exporter(deadline)
        self._report()

    def _shutdown_exporter(self, deadline: float) -> None:
        """``exporter.shutdown()`` cuts retries short, but some exporters wait
        for the export in flight: call it from a daemon thread, wait until the
        deadline at most."""

        def run() -> None:
            with _quiet.own_thread(self):
                try:
                    self.exporter.shutdown()
                except Exception as exc:
                    self.note_error(exc)

        thread = threading.Thread(target=run, name="functrace-otel-shutdown", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            # 3.12 refuses new threads at interpreter shutdown (atexit included).
            # Shut down here: it closes the exporter's connections before the
            # interpreter tears modules down (left open, urllib3's own finalizer
            # fails then); it does not wait for an export still in flight.
            run()
            return
        thread.join(max(0.0, deadline - time.monotonic()))

    def note_error(self, error: BaseException | logging.LogRecord) -> None:
        """Keep the reason to give in the notice: the root cause of the last
        exception, else the last message the exporter logged."""
        if isinstance(error, logging.LogRecord):
            args = error.args if isinstance(error.args, tuple) else ()
            exc = next((a for a in args if isinstance(a, BaseException)), None)
            if exc is None:
                if not self._error_from_exception:
                    self.last_error = error.getMessage()
                return
            error = exc
        self.last_error = _root_cause(error)
        self._error_from_exception = True

    def _report(self) -> None:
        if self._reported:
            return
        self._reported = True
        with self._count_lock:
            dropped, failed, delivered = self.dropped, self.failed, self.delivered
            unsent = len(self._queue) + self._in_flight
        lost = dropped + failed + unsent
        if not lost:
            return
        parts = []
        if dropped:
            parts.append(f"{dropped} dropped, export queue full")
        if failed:
            parts.append(f"{failed} failed to export")
        if unsent:
            wait = f"{self.budget.seconds:g} s exit wait ({EXIT_TIMEOUT_VAR})"
            parts.append(f"{unsent} still unsent when the {wait} ran out")
        total = lost + delivered
        message = (
            f"OpenTelemetry: {lost} of {total} spans not delivered to {self._target()} "
            f"({'; '.join(parts)})"
        )
        if self.last_error:
            error = " ".join(self.last_error.split())
            message += f"; last error: {error[:200]}{'...' if len(error) > 200 else ''}"
        notice(message)

    def _target(self) -> str:
        endpoint = getattr(self.exporter, "_endpoint", None)
        return endpoint if isinstance(endpoint, str) else type(self.exporter).__name__


def _root_cause(error: BaseException) -> str:
    """``ConnectionRefusedError: [Errno 111] Connection refused`` rather than
    requests' and urllib3's wrappers around it."""
    seen: set[int] = set()
    while id(error) not in seen:
        seen.add(id(error))
        inner = error.__cause__ or error.__context__ or getattr(error, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in error.args if isinstance(a, BaseException)), None)
        if inner is None:
            break
        error = inner
    return f"{type(error).__name__}: {error}"
