"""Events into frames, one stack per tag, handed to a consumer as they open and close.

The streaming twin of :class:`~functrace.reading._build.Builder`, with the same
tolerance (a trace cut off, an exit without its enter, an exit that skips open
calls) but no tree: a frame lives while it is open, so memory is bounded by
the deepest stack, not by the trace's length. Consumers (summary, tree printer,
exporters) see each frame twice: ``opened`` (name, start, parent known) and
``closed`` (duration, end, exception known); ``closed`` comes after every
child's ``closed``.

Times on a frame always nest: a frame ends no earlier than its last child
(a text trace's durations are rounded, so a parent may be stretched by that
rounding), and starts no earlier than its parent.
"""

from __future__ import annotations

from typing import Any, Protocol

from functrace._runtime.record import Origin
from functrace.reading._build import find_open, take_due

__all__ = ["Consumer", "Frame", "Output", "Stream"]


class Frame:
    """One call (or one run of a generator or coroutine) while it is read."""

    __slots__ = (
        "args",
        "child_ns",
        "data",
        "depth",
        "duration_ns",
        "end_ns",
        "exception",
        "file",
        "inner_end",
        "line",
        "name",
        "origin",
        "parent",
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
        depth: int,
        start_ns: int,
        resumed: bool,
        file: str,
        line: int,
        parent: Frame | None,
    ) -> None:
        self.name = name
        self.tag = tag
        #: 1 for an outermost call; one more per caller.
        self.depth = depth
        self.start_ns = start_ns
        #: Where the frame ends on the timeline; set when it closes (unfinished
        #: frames too: where the next call at their level started, or the trace ended).
        self.end_ns = start_ns
        #: The measured duration; None when the call never finished.
        self.duration_ns: int | None = None
        self.resumed = resumed
        self.file = file
        self.line = line
        self.parent = parent
        self.exception: str | None = None
        #: "yield" or "await" when this run ended by suspending.
        self.suspended: str | None = None
        #: Sum of the measured durations of finished children (for own time).
        self.child_ns = 0
        #: The latest end of a closed child: the frame ends no earlier.
        self.inner_end = start_ns
        #: For the consumer's own use (a span id, a shown flag, ...).
        self.data: Any = None
        #: FUNCTRACE_ARGS: the arguments (name -> text) and what it returned (see Call).
        self.args: dict[str, str] | None = None
        self.returned: str | None = None
        #: An outermost call's: the traced call that started its thread, task or job.
        self.origin: Origin | None = None

    @property
    def unfinished(self) -> bool:
        return self.duration_ns is None

    def chain(self) -> list[str]:
        """Names from the outermost call down to this one."""
        names = []
        node: Frame | None = self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return names[::-1]

    def __repr__(self) -> str:
        return f"<Frame {self.tag} {self.name} depth={self.depth} dur={self.duration_ns}>"


class Output(Protocol):
    """Where views and exporters write: a text file, or anything with ``write``."""

    def write(self, text: str, /) -> object: ...


class Consumer(Protocol):
    def opened(self, frame: Frame) -> None: ...

    def closed(self, frame: Frame) -> None: ...


class Stream:
    """The builder interface :class:`~functrace.reading._read._Reader` feeds."""

    def __init__(self, consumer: Consumer, exact: bool) -> None:
        self.consumer = consumer
        #: jsonl: exits carry their end time; text: start + duration, stretched to nest.
        self.exact = exact
        self.stacks: dict[str, list[Frame]] = {}
        #: Tag -> the origin of its next outermost call (the reader fills it in).
        self.due: dict[str, Origin] = {}
        self.opened_count = 0
        self.unfinished = 0
        #: The latest time seen: where frames still open at the end close.
        self.last = 0
        self._opened = consumer.opened
        self._closed = consumer.closed

    def enter(
        self,
        tag: str,
        depth: int,
        name: str,
        t: int,
        resumed: bool,
        file: str = "",
        line: int = 0,
        args: dict[str, str] | None = None,
    ) -> Frame:
        stack = self.stacks.get(tag)
        if stack is None:
            stack = self.stacks[tag] = []
        if depth >= 1 and len(stack) >= depth:
            self._abandon(stack, depth - 1, t)  # their exits never came
        parent = stack[-1] if stack else None
        if parent is not None and t < parent.start_ns:
            t = parent.start_ns
        frame = Frame(name, tag, len(stack) + 1, t, resumed, file, line, parent)
        frame.args = args
        if parent is None and self.due:
            frame.origin = take_due(self.due, tag)
        stack.append(frame)
        self.opened_count += 1
        self._opened(frame)  # self.last follows ends: finish() sees open frames' starts
        return frame

    def exit(
        self,
        tag: str,
        depth: int,
        name: str,
        t_end: int | None,
        duration: int,
        exception: str | None,
        suspended: str | None,
        file: str = "",
        line: int = 0,
        now: int = 0,
        value: str | None = None,
    ) -> Frame:
        """Close the matching open frame; ``t_end`` None means start + duration."""
        stack = self.stacks.get(tag)
        if stack is None:
            stack = self.stacks[tag] = []
        n = len(stack)
        if 1 <= depth <= n and stack[depth - 1].name == name:
            index: int | None = depth - 1
        else:
            index = find_open(stack, depth, name)
        if index is None:
            # An exit without its enter: the call started before the trace did.
            start = now if t_end is None else t_end - duration
            # Under the open call at its depth, if any; deeper open calls stay
            # open (their exits may still come), as the tree builder has it.
            keep = min(depth - 1, len(stack))
            parent = stack[keep - 1] if keep >= 1 else None
            if parent is not None and start < parent.start_ns:
                start = parent.start_ns
            frame = Frame(name, tag, keep + 1, start, False, file, line, parent)
            self.opened_count += 1
            self._opened(frame)
        else:
            frame = stack[index]
            if index + 1 < n:
                self._abandon(stack, index + 1, frame.start_ns if t_end is None else t_end)
            del stack[index]
        end = frame.start_ns + duration if t_end is None else t_end
        if end < frame.inner_end:
            end = frame.inner_end
        if end < frame.start_ns:
            end = frame.start_ns
        frame.end_ns = end
        frame.duration_ns = duration
        frame.exception = exception
        frame.suspended = suspended
        frame.returned = value
        parent = frame.parent
        if parent is not None:
            parent.child_ns += duration
            if end > parent.inner_end:
                parent.inner_end = end
        if end > self.last:
            self.last = end
        self._closed(frame)
        return frame

    def _abandon(self, stack: list[Frame], keep: int, at: int) -> None:
        """Close ``stack[keep:]`` as unfinished, innermost first, at time ``at``."""
        while len(stack) > keep:
            frame = stack.pop()
            end = max(at, frame.inner_end, frame.start_ns)
            frame.end_ns = end
            parent = frame.parent
            if parent is not None and end > parent.inner_end:
                parent.inner_end = end
            self.unfinished += 1
            self._closed(frame)

    def finish(self) -> None:
        """Close every frame still open, where the trace ends."""
        end = self.last
        for stack in self.stacks.values():
            for frame in stack:
                end = max(end, frame.inner_end)
        for stack in self.stacks.values():
            self._abandon(stack, 0, end)
        self.last = end
