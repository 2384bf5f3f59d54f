"""Per-function totals, most own time first, gathered while the trace streams.

*calls* counts calls, not runs: the resumed runs of a generator or coroutine
add their time to the call they continue. *own* is the time not spent in
traced children; *max* is the longest single run. Calls that never finished
are counted but add no time. Memory: one row per distinct function.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from functrace._runtime.lines import format_duration
from functrace.reading._stream import Frame, Output
from functrace.render.select import Selection

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["FunctionStats", "Summary", "summary_table", "write_summary"]


@dataclasses.dataclass
class FunctionStats:
    name: str
    calls: int = 0
    unfinished: int = 0
    total_ns: int = 0
    own_ns: int = 0
    max_ns: int = 0


class Summary:
    """A consumer for :func:`~functrace.reading.scan_trace`."""

    def __init__(
        self, selection: Selection | None = None, thread_names: dict[str, str] | None = None
    ) -> None:
        self.selection = selection or Selection()
        self.stats: dict[str, FunctionStats] = {}
        self.thread_names = thread_names if thread_names is not None else {}
        self._narrows = self.selection.narrows

    @property
    def counts_every_call(self) -> bool:
        """True without a filter: a scan may then count most calls itself, its own
        way, and hand the counts over (:meth:`add_rows`) at the end."""
        return not self._narrows

    def add_rows(self, rows: dict[str, list[int]]) -> None:
        """Counts kept by a scan: name -> [calls, total, own, max] (nanoseconds)."""
        stats = self.stats
        for name, (calls, total, own, longest) in rows.items():
            row = stats.get(name)
            if row is None:
                row = stats[name] = FunctionStats(name)
            row.calls += calls
            row.total_ns += total
            row.own_ns += own
            if longest > row.max_ns:
                row.max_ns = longest

    def opened(self, frame: Frame) -> None:
        pass

    def closed(self, frame: Frame) -> None:
        selection = self.selection
        if self._narrows and not selection.counts(frame, self.thread_names.get(frame.tag, "")):
            return
        row = self.stats.get(frame.name)
        if row is None:
            row = self.stats[frame.name] = FunctionStats(frame.name)
        if not frame.resumed:
            row.calls += 1
        duration = frame.duration_ns
        if duration is None:
            row.unfinished += 1
            return
        row.total_ns += duration
        own = duration - frame.child_ns
        if own > 0:
            row.own_ns += own
        if duration > row.max_ns:
            row.max_ns = duration

    def rows(self) -> list[FunctionStats]:
        return sorted(self.stats.values(), key=lambda s: (-s.own_ns, s.name))


def _cells(row: FunctionStats) -> list[str]:
    calls = str(row.calls)
    if row.unfinished:
        calls += f" ({row.unfinished} unfinished)"
    return [
        row.name,
        calls,
        format_duration(row.total_ns),
        format_duration(row.own_ns),
        format_duration(row.max_ns),
    ]


_HEADER = ["function", "calls", "total", "own", "max"]


def summary_table(rows: list[FunctionStats]) -> Table:
    """For a terminal."""
    from rich.table import Table

    table = Table(title=None, show_edge=False, header_style="bold")
    table.add_column(_HEADER[0], overflow="fold")
    for title in _HEADER[1:]:
        table.add_column(title, justify="right")
    for row in rows:
        table.add_row(*_cells(row))
    return table


def write_summary(rows: list[FunctionStats], out: Output) -> None:
    """For a pipe or a file: aligned plain columns that never wrap a name."""
    cells = [_HEADER] + [_cells(row) for row in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(_HEADER))]
    for c in cells:
        line = c[0].ljust(widths[0]) + "".join(
            "  " + c[i].rjust(widths[i]) for i in range(1, len(c))
        )
        out.write(line.rstrip() + "\n")
