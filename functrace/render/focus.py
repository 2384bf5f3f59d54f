"""``show --focus NAME``: every distinct call chain from an outermost call down to NAME,
each once, with how many calls came that way and their total time.

The answer to "which call chain did this call come from?" for a function called
a million times. A chain is built when a call to NAME ends, from the open calls
above it (each keeps the chain once built, for its next calls), so memory holds
the deepest stack and the chains printed, not the calls.
"""

from __future__ import annotations

import dataclasses

from functrace._runtime.lines import format_duration
from functrace.reading._stream import Frame, Output
from functrace.render.select import Selection

__all__ = ["ChainStats", "Focus", "write_focus"]


@dataclasses.dataclass
class ChainStats:
    chain: tuple[str, ...]
    calls: int = 0
    unfinished: int = 0
    total_ns: int = 0
    tags: set[str] = dataclasses.field(default_factory=set)


_HIDDEN = ()  # the chain of a call in a tag not shown


class Focus:
    """A consumer: ``name`` is matched like ``--name``; ``selection.max_depth``
    keeps only the N nearest callers of each chain (chains that then agree merge)."""

    def __init__(
        self, name: str, selection: Selection, thread_names: dict[str, str] | None = None
    ) -> None:
        self.target = Selection(name=name)
        self.selection = selection
        self.thread_names = thread_names if thread_names is not None else {}
        self.chains: dict[tuple[str, ...], ChainStats] = {}

    def opened(self, frame: Frame) -> None:
        parent = frame.parent
        if parent is None:
            shown = self.selection.tag_shown(frame.tag, self.thread_names.get(frame.tag, ""))
            frame.data = None if shown else _HIDDEN
        else:
            frame.data = _HIDDEN if parent.data is _HIDDEN else None

    @staticmethod
    def _chain(frame: Frame) -> tuple[str, ...]:
        """Names from the outermost call down to ``frame``, kept on the open frames that
        lead to a match (so memory holds only the chains that are printed)."""
        chain: tuple[str, ...] | None = frame.data
        if chain is None:
            up = Focus._chain(frame.parent) if frame.parent is not None else ()
            chain = frame.data = (*up, frame.name)
        return chain

    def closed(self, frame: Frame) -> None:
        if frame.data is _HIDDEN or not self.target.name_matches(frame.name):
            return
        if self.selection.min_duration_ns and not self.selection.long_enough(frame):
            return
        chain = self._chain(frame)
        keep = self.selection.max_depth + 1
        if self.selection.max_depth and len(chain) > keep:
            chain = ("…", *chain[-keep:])
        stats = self.chains.get(chain)
        if stats is None:
            stats = self.chains[chain] = ChainStats(chain)
        if not frame.resumed:
            stats.calls += 1
        if frame.duration_ns is None:
            stats.unfinished += 1
        else:
            stats.total_ns += frame.duration_ns
        if len(stats.tags) < 8:
            stats.tags.add(frame.tag)

    def rows(self) -> list[ChainStats]:
        return sorted(self.chains.values(), key=lambda s: (-s.calls, -s.total_ns, s.chain))


def write_focus(rows: list[ChainStats], out: Output) -> None:
    """One line per chain, most calls first: ``calls  total  a > b > NAME``."""
    cells = []
    for row in rows:
        calls = f"{row.calls:,}"
        if row.unfinished:
            calls += f" ({row.unfinished} unfinished)"
        chain = " > ".join(row.chain)
        cells.append((calls, format_duration(row.total_ns), chain))
    header = ("calls", "total", "call chain")
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(2)]
    for c in [header, *cells]:
        out.write(f"{c[0].rjust(widths[0])}  {c[1].rjust(widths[1])}  {c[2]}\n")
