"""``functrace export TRACE --format F -o OUT``: a trace file for trace viewers and back ends."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, NoReturn, TextIO

import click

from functrace.cli._notes import no_trace_lines, say_notes
from functrace.cli.exit_codes import ExitCode

__all__ = ["command"]

_FORMATS = ("chrome", "speedscope", "otlp-json", "zipkin")
_SPANS = ("otlp-json", "zipkin")


@click.command("export")
@click.argument("trace", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(_FORMATS),
    required=True,
    help="chrome (Perfetto, chrome://tracing), speedscope, otlp-json or zipkin (v2).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
    help="Where to write (- for stdout).",
)
@click.option(
    "--service-name",
    default="functrace",
    show_default=True,
    help="service.name of the spans (otlp-json, zipkin).",
)
@click.option(
    "--traceparent",
    metavar="HEADER",
    help="Put the spans under this W3C traceparent (otlp-json, zipkin).",
)
@click.option(
    "--zipkin-debug",
    is_flag=True,
    help="Mark zipkin spans debug: true (Zipkin then keeps them whatever its sampling).",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Say where and why each kind of unreadable line was skipped.",
)
def command(
    trace: str,
    fmt: str,
    output: str,
    service_name: str,
    traceparent: str | None,
    zipkin_debug: bool,
    verbose: bool,
) -> None:
    """Convert a trace for Perfetto, speedscope, OTLP or Zipkin.

    TRACE is a text or jsonl trace file, or - for stdin. jsonl traces carry
    exact times; a text trace only has durations, so its
    timeline is rebuilt from them (nesting and durations hold, gaps are zero).
    The trace is read once and never held: the output is written as it is read.

    Examples:

    \b
      functrace export trace.jsonl -f chrome -o trace.json      # Perfetto
      functrace export trace.log -f speedscope -o trace.speedscope.json
      functrace export trace.jsonl -f otlp-json --service-name shop -o spans.json
      functrace export trace.jsonl -f zipkin -o zipkin.json --zipkin-debug
    """
    from functrace.export import export_file

    options: dict[str, Any] = {}
    if fmt in _SPANS:
        options["service_name"] = service_name
        if traceparent:
            options.update(_parse_traceparent(traceparent))
    elif traceparent:
        raise click.UsageError("--traceparent applies to otlp-json and zipkin only")
    if zipkin_debug:
        if fmt != "zipkin":
            raise click.UsageError("--zipkin-debug applies to zipkin only")
        options["debug"] = True
    label = "<stdin>" if trace == "-" else trace
    with _Output(output) as out:
        try:
            scan = export_file(trace, fmt, out, **options)
        except OSError as exc:
            _fail(f"cannot read {label}: {exc.strerror or exc}")
        except KeyboardInterrupt:
            _fail(f"interrupted: {output} not written", ExitCode.INTERRUPTED)
        if scan.calls == 0:
            out.discard()
            no_trace_lines("export", label, scan, verbose)
            sys.exit(ExitCode.FAILED)
        # As show says it; the formats mark unfinished calls so.
        say_notes("export", label, scan, scan.unfinished, verbose)
    if output != "-":
        note = "" if scan.exact else " (times rebuilt from a text trace's durations)"
        click.echo(f"functrace export: {scan.calls} calls -> {output} ({fmt}){note}", err=True)


def _fail(message: str, code: ExitCode = ExitCode.FAILED) -> NoReturn:
    click.echo(f"functrace export: {message}", err=True)
    sys.exit(code)


class _Output:
    """The output, opened before any work: a temporary file beside it, moved over it
    when the export is complete (a failed export leaves any earlier file alone)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file: TextIO | None = None
        self.temp: str | None = None
        self.keep = True

    def __enter__(self) -> _Output:
        if self.path == "-":
            self.file = sys.stdout
            return self
        target = os.path.abspath(self.path)
        folder = os.path.dirname(target)
        if os.path.isdir(target):
            _fail(f"cannot write {self.path}: it is a directory", ExitCode.USAGE)
        if not os.path.isdir(folder):
            _fail(f"cannot write {self.path}: no such directory {folder}", ExitCode.USAGE)
        if os.path.exists(target) and not os.path.isfile(target):
            # /dev/null, a FIFO, a terminal: written to as it is, never replaced by a
            # file (a rename over /dev/null, as root, would make it one).
            try:
                self.file = open(target, "w", encoding="utf-8")  # closed in __exit__
            except OSError as exc:
                _fail(f"cannot write {self.path}: {exc.strerror or exc}", ExitCode.USAGE)
            return self
        try:
            fd, self.temp = tempfile.mkstemp(
                prefix=f".{os.path.basename(target)}.", suffix=".part", dir=folder
            )
        except OSError as exc:
            _fail(f"cannot write {self.path}: {exc.strerror or exc}", ExitCode.USAGE)
        self.file = open(fd, "w", encoding="utf-8")  # closed in __exit__
        return self

    def write(self, text: str) -> int:
        assert self.file is not None
        try:
            return self.file.write(text)
        except BrokenPipeError:
            # `export ... | head`: the reader left; nothing to say.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(ExitCode.OK)
        except OSError as exc:
            _fail(f"cannot write {self.path}: {exc.strerror or exc}")

    def discard(self) -> None:
        self.keep = False

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if self.temp is None:
            if self.file is sys.stdout:
                self.file.flush()
            elif self.file is not None:
                try:
                    self.file.close()
                except OSError as exc:
                    _fail(f"cannot write {self.path}: {exc.strerror or exc}")
            return
        assert self.file is not None
        try:
            self.file.close()
            if kind is None and self.keep:
                os.replace(self.temp, os.path.abspath(self.path))
                self.temp = None
        except OSError as exc:
            _fail(f"cannot write {self.path}: {exc.strerror or exc}")
        finally:
            if self.temp is not None:
                os.unlink(self.temp)


def _parse_traceparent(header: str) -> dict[str, int]:
    parts = header.strip().split("-")
    try:
        if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
            raise ValueError
        trace_id, span_id = int(parts[1], 16), int(parts[2], 16)
    except ValueError:
        raise click.BadParameter(
            f"{header!r} is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)",
            param_hint="--traceparent",
        ) from None
    return {"trace_id": trace_id, "parent_span_id": span_id}
