"""Which calls a view shows: ``--tag``, ``--name``, ``--min-duration``, ``--max-depth``."""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable

from functrace._runtime.record import Call
from functrace.reading.trace import Trace

__all__ = ["Selection"]


@dataclasses.dataclass(frozen=True)
class Selection:
    """Everything shown by default; each field narrows what is shown.

    ``tags``: a tag shows when it equals one of these, or is a task of such a
    thread tag (``t[01]`` selects ``t[01]a[03]`` too); brackets are literal.
    ``name``: a glob on the qualified name (``*.fetch``; a glob without a dot
    also matches the last part, so ``fetch`` works). A matching call shows with
    the chain of calls it came from and everything below it.
    ``min_duration_ns``: shorter calls are hidden with everything below them,
    unless they raised or never finished. ``max_depth``: deeper calls are hidden.
    """

    tags: tuple[str, ...] = ()
    name: str | None = None
    min_duration_ns: int = 0
    max_depth: int = 0

    def tag_shown(self, tag: str) -> bool:
        return not self.tags or any(tag == t or tag.startswith(t + "a[") for t in self.tags)

    def name_matches(self, name: str) -> bool:
        if self.name is None:
            return True
        pattern = self.name
        return fnmatch.fnmatchcase(name, pattern) or (
            "." not in pattern and fnmatch.fnmatchcase(name.rpartition(".")[2], pattern)
        )

    def roots(self, trace: Trace) -> dict[str, list[Call]]:
        """tag -> outermost calls that show, for tags with anything to show."""
        out: dict[str, list[Call]] = {}
        for tag, roots in trace.tags().items():
            if not self.tag_shown(tag):
                continue
            kept = [r for r in roots if self.shows(r, 1)]
            if kept:
                out[tag] = kept
        return out

    def children(self, call: Call, depth: int) -> list[Call]:
        """The children of ``call`` (at ``depth``) that show."""
        return [c for c in call.children if self.shows(c, depth + 1)]

    def shows(self, call: Call, depth: int) -> bool:
        if self.max_depth and depth > self.max_depth:
            return False
        if self.min_duration_ns and not _long_enough(call, self.min_duration_ns):
            return False
        if self.name is None:
            return True
        return self._near_match(call)

    def _near_match(self, call: Call) -> bool:
        # The call matches, one it came from matches, or one below it does.
        node: Call | None = call
        while node is not None:
            if self.name_matches(node.name):
                return True
            node = node.parent
        return any(self.name_matches(c.name) for c in call.walk())

    def calls(self, trace: Trace) -> Iterable[Call]:
        """Every call that shows, depth first."""
        for roots in self.roots(trace).values():
            stack = [(r, 1) for r in reversed(roots)]
            while stack:
                call, depth = stack.pop()
                yield call
                stack.extend((c, depth + 1) for c in reversed(self.children(call, depth)))


def _long_enough(call: Call, min_ns: int) -> bool:
    duration = call.duration_ns
    return duration is None or duration >= min_ns or call.exception is not None
