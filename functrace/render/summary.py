"""Per-function totals, most own time first.

*calls* counts calls, not runs: the resumed runs of a generator or coroutine
add their time to the call they continue. *own* is the time not spent in
traced children; *max* is the longest single run. Calls that never finished
are counted but add no time.
"""

from __future__ import annotations

import dataclasses

from rich.table import Table

from functrace._runtime.lines import format_duration
from functrace.reading.trace import Trace
from functrace.render.select import Selection

__all__ = ["FunctionStats", "summarize", "summary_table"]


@dataclasses.dataclass
class FunctionStats:
    name: str
    calls: int = 0
    unfinished: int = 0
    total_ns: int = 0
    own_ns: int = 0
    max_ns: int = 0


def summarize(trace: Trace, selection: Selection | None = None) -> list[FunctionStats]:
    selection = selection or Selection()
    stats: dict[str, FunctionStats] = {}
    for call in selection.calls(trace):
        if not selection.name_matches(call.name):
            continue  # shown only as the chain leading to a match
        row = stats.get(call.name)
        if row is None:
            row = stats[call.name] = FunctionStats(call.name)
        if not call.resumed:
            row.calls += 1
        duration = call.duration_ns
        if duration is None:
            row.unfinished += 1
            continue
        inner = sum(c.duration_ns or 0 for c in call.children)
        row.total_ns += duration
        row.own_ns += max(0, duration - inner)
        row.max_ns = max(row.max_ns, duration)
    return sorted(stats.values(), key=lambda s: (-s.own_ns, s.name))


def summary_table(trace: Trace, selection: Selection | None = None) -> Table:
    rows = summarize(trace, selection)
    table = Table(title=None, show_edge=False, header_style="bold")
    table.add_column("function", overflow="fold")
    table.add_column("calls", justify="right")
    table.add_column("total", justify="right")
    table.add_column("own", justify="right")
    table.add_column("max", justify="right")
    for row in rows:
        calls = str(row.calls)
        if row.unfinished:
            calls += f" ({row.unfinished} unfinished)"
        table.add_row(
            row.name,
            calls,
            format_duration(row.total_ns),
            format_duration(row.own_ns),
            format_duration(row.max_ns),
        )
    return table
