"""``show --focus NAME``: every distinct call chain from an outermost call down to NAME,
each once, with how many calls came that way and their total time.

The answer to "which call chain did this call come from?" for a function called
a million times. Chains are interned as they open (one small entry per distinct
chain), so memory grows with the distinct chains, not the calls.
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


class Focus:
    """A consumer: ``name`` is matched like ``--name``; ``selection.max_depth``
    keeps only the N nearest callers of each chain (chains that then agree merge)."""

    def __init__(
        self, name: str, selection: Selection, thread_names: dict[str, str] | None = None
    ) -> None:
        self.target = Selection(name=name)
        self.selection = selection
        self.thread_names = thread_names if thread_names is not None else {}
        #: (parent chain id, name) -> chain id; id -> (parent id, name).
        self._ids: dict[tuple[int, str], int] = {}
        self._links: list[tuple[int, str]] = [(-1, "")]
        self.chains: dict[tuple[str, ...], ChainStats] = {}

    def opened(self, frame: Frame) -> None:
        parent = frame.parent
        if parent is None:
            if not self.selection.tag_shown(frame.tag, self.thread_names.get(frame.tag, "")):
                frame.data = -1
                return
            up = 0
        else:
            up = parent.data
            if up == -1:
                frame.data = -1
                return
        key = (up, frame.name)
        chain_id = self._ids.get(key)
        if chain_id is None:
            chain_id = self._ids[key] = len(self._links)
            self._links.append(key)
        frame.data = chain_id

    def closed(self, frame: Frame) -> None:
        chain_id = frame.data
        if chain_id == -1 or not self.target.name_matches(frame.name):
            return
        if self.selection.min_duration_ns and not self.selection.long_enough(frame):
            return
        chain = self._chain(chain_id)
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

    def _chain(self, chain_id: int) -> tuple[str, ...]:
        names = []
        while chain_id > 0:
            chain_id, name = self._links[chain_id]
            names.append(name)
        return tuple(reversed(names))

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
