"""Call trees as plain data: ``with functrace.record() as rec: ...``.

The engine creates one :class:`Call` per traced call (or per resumption of a
generator or coroutine) while at least one recording is active (the compiled
path when the recording is read: see listeners.Session); renderers and
exporters only read these objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

__all__ = ["Call", "Origin", "Recording"]


class Origin(NamedTuple):
    """The traced call that started a thread, an asyncio task or a thread-pool job."""

    #: The tag the starting call ran in (``t[01]``, ``t[01]a[02]``).
    tag: str
    #: The starting call's qualified name: the innermost traced call running then
    #: (for a task, see the docs: the call that last awaited in its creator).
    name: str
    #: What was started: "thread", "task" or "job".
    kind: str


class Call:
    """One traced call, or one run of a generator/coroutine between suspensions."""

    __slots__ = (
        "_parent",
        "args",
        "children",
        "end_ns",
        "exception",
        "file",
        "line",
        "name",
        "origin",
        "resumed",
        "returned",
        "start_ns",
        "suspended",
        "tag",
    )

    def __init__(
        self,
        name: str,
        tag: str,
        start_ns: int,
        file: str = "",
        line: int = 0,
        resumed: bool = False,
    ) -> None:
        self.name = name
        self.tag = tag
        self.start_ns = start_ns
        #: ``None`` while the call is still running.
        self.end_ns: int | None = None
        #: The exception type's qualified name if the call raised, else ``None``.
        self.exception: str | None = None
        #: ``"yield"`` or ``"await"`` when this run ended by suspending, else ``None``.
        self.suspended: str | None = None
        #: True when this run resumed a suspended generator or coroutine.
        self.resumed = resumed
        self.file = file
        self.line = line
        #: With ``FUNCTRACE_ARGS``: the arguments, name -> text (``None`` without it,
        #: and for a resumed generator or coroutine).
        self.args: dict[str, str] | None = None
        #: With ``FUNCTRACE_ARGS``: the text of what the call returned, of the value it
        #: yielded or awaited, or of its exception's arguments (None when there is none).
        self.returned: str | None = None
        self.children: list[Call] = []
        self._parent: Call | None = None
        #: On the first outermost call of a thread or task (or of a thread-pool
        #: job): the traced call that started it, if one was running then.
        self.origin: Origin | None = None

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_ns is None else self.end_ns - self.start_ns

    @property
    def parent(self) -> Call | None:
        return self._parent

    def walk(self) -> Iterator[Call]:
        """This call and all its descendants, depth first, in start order."""
        stack = [self]
        while stack:
            call = stack.pop()
            yield call
            stack.extend(reversed(call.children))

    def __repr__(self) -> str:
        state = "running" if self.end_ns is None else f"{self.duration_ns}ns"
        if self.exception:
            state += f" !{self.exception}"
        if self.suspended:
            state += f" ({self.suspended})"
        return f"<Call {self.tag} {self.name} {state}, {len(self.children)} children>"


class Recording:
    """What one ``record()`` block saw. ``roots`` are outermost calls in start order.

    ``limit`` bounds memory for chatty code: once that many calls are kept, the
    rest (and everything below them) are only counted in ``dropped``.

    The compiled path keeps the calls it records in a compact journal and makes
    them into :class:`Call` objects only when the recording is read: ``roots``,
    ``count`` and everything built on them build what is pending first.
    """

    def __init__(self, limit: int | None = None) -> None:
        self._roots: list[Call] = []
        self.limit = limit
        self._count = 0
        self.dropped = 0
        self.start_ns = 0
        self.end_ns: int | None = None
        #: What may still hold calls of this recording not made into Calls yet
        #: (listeners.Session: ``build()``, ``ended``), and this recording's part
        #: of it (``count``: calls it built); None when nothing is pending.
        self._pending: Any = None
        self._window: Any = None

    def _settle(self) -> None:
        pending = self._pending
        if pending is not None:
            pending.build()
            if pending.ended:
                self._pending = None  # nothing more can come: the journals are built

    @property
    def roots(self) -> list[Call]:
        self._settle()
        return self._roots

    @property
    def count(self) -> int:
        """How many calls it kept."""
        self._settle()
        window = self._window
        return self._count + (window.count if window is not None else 0)

    def walk(self) -> Iterator[Call]:
        for root in self.roots:
            yield from root.walk()

    def calls(self, name: str | None = None) -> list[Call]:
        """Every recorded call, or those whose name equals or ends with ``.name``."""
        if name is None:
            return list(self.walk())
        suffix = "." + name
        return [c for c in self.walk() if c.name == name or c.name.endswith(suffix)]

    def chains(self, name: str) -> list[list[str]]:
        """For each call to ``name``: the names from its root down to it."""
        out = []
        for call in self.calls(name):
            chain = []
            node: Call | None = call
            while node is not None:
                chain.append(node.name)
                node = node._parent
            out.append(chain[::-1])
        return out

    def __repr__(self) -> str:
        return f"<Recording {len(self.roots)} roots, {self.count} calls, {self.dropped} dropped>"
