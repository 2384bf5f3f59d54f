"""``functrace export TRACE --format F -o OUT``: a trace file for trace viewers and back ends."""

from __future__ import annotations

import io
import sys
from typing import Any

import click

from functrace.cli.exit_codes import ExitCode

__all__ = ["command"]

_FORMATS = ("chrome", "speedscope", "otlp-json", "zipkin")
_NEEDS_OTEL = ("otlp-json", "zipkin")


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
def command(trace: str, fmt: str, output: str, service_name: str, traceparent: str | None) -> None:
    """Convert TRACE (a text or jsonl trace file, - for stdin) to another format.

    jsonl traces carry exact times; a text trace only has durations, so its
    timeline is rebuilt from them (nesting and durations hold, gaps are zero).
    """
    from rich.console import Console

    from functrace.reading import read_trace, read_trace_lines

    err = Console(stderr=True)
    options: dict[str, Any] = {}
    if fmt in _NEEDS_OTEL:
        options["service_name"] = service_name
        if traceparent:
            options.update(_parse_traceparent(traceparent))
    elif traceparent:
        raise click.UsageError("--traceparent applies to otlp-json and zipkin only")
    if trace == "-":
        # Bytes decoded leniently, line by line: a 10 GB trace piped in is never held whole.
        stdin = io.TextIOWrapper(sys.stdin.buffer, "utf-8", errors="replace")
        try:
            loaded = read_trace_lines(stdin)
        finally:
            stdin.detach()  # sys.stdin stays open
    else:
        loaded = read_trace(trace)
    for line in loaded.problem_report("<stdin>" if trace == "-" else trace):
        click.echo(f"functrace export: {line}", err=True)
    if not loaded.roots:
        click.echo(f"functrace export: no trace lines in {trace}", err=True)
        sys.exit(ExitCode.FAILED)
    try:
        from functrace.export import export

        text = export(loaded, fmt, **options)
    except ImportError as exc:
        err.print(
            f"functrace export: --format {fmt} needs the otel extra "
            f"(pip install 'pyfunctrace[otel]'): {exc}"
        )
        sys.exit(ExitCode.USAGE)
    with click.open_file(output, "w", encoding="utf-8") as f:
        f.write(text)
        f.write("\n")
    if output != "-":
        spans = sum(1 for _ in loaded.walk())
        note = "" if loaded.exact else " (times rebuilt from a text trace's durations)"
        err.print(f"functrace export: {spans} calls -> {output} ({fmt}){note}")


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
