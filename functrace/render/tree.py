"""Call trees, one per thread and task, printed while the trace streams::

    t[01]a[03]
        app.handle 59.4µs
            app.fetch 42.2µs !TimeoutError
        app.poll … unfinished

A call's line carries its duration, known only when it ends, so each tag
keeps a queue of lines not yet printable: the calls still open (placeholders)
and what came after them. A call that ends fills in its placeholder (or, when a
filter hides it, drops it with everything below it) and the queue prints up to
the next open call. A queue longer than ``limit`` lines prints its oldest open
call without its duration (``app.main …``) and, when that call ends, a closing
line ``… app.main 2.00ms`` below its calls: memory stays bounded whatever the
trace. Lines of different tags interleave as the trace did; a tag's header is
printed again whenever its lines resume after another tag's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from functrace._runtime.lines import format_duration
from functrace.reading._stream import Frame
from functrace.render.select import Selection

__all__ = ["TreePrinter", "call_label"]

#: Durations whose text is remembered (a jsonl trace's are exact: most are new).
_DURATIONS_MAX = 100_000

_INDENT = "    "


def call_label(frame: Frame, durations: dict[int, str] | None = None) -> str:
    parts = [frame.name]
    if frame.args is not None:  # FUNCTRACE_ARGS: as the trace line has them
        parts[0] += "(" + ", ".join(f"{k}={v}" for k, v in frame.args.items()) + ")"
    if frame.resumed:
        parts.append("resume")
    duration = frame.duration_ns
    if duration is None:
        parts.append("… unfinished")
        return " ".join(parts)
    text = durations.get(duration) if durations is not None else None
    if text is None:
        text = format_duration(duration)
        if durations is not None and len(durations) < _DURATIONS_MAX:
            durations[duration] = text
    parts.append(text)
    if frame.exception is not None:
        parts.append("!" + frame.exception)
    elif frame.suspended is not None:
        parts.append(frame.suspended)
    if frame.returned is not None:
        parts.append("=> " + frame.returned)
    return " ".join(parts)


class _Line:
    __slots__ = ("depth", "text")

    def __init__(self, depth: int, text: str) -> None:
        self.depth = depth
        self.text = text


class _Closing(_Line):
    __slots__ = ()


class _Node:
    """A shown (or maybe shown) call's place in its tag's queue."""

    __slots__ = ("index", "matched", "needed", "printed")

    def __init__(self, index: int, matched: bool) -> None:
        self.index = index  # absolute position in the tag's queue
        self.matched = matched  # it, or a call it came from, matches --name
        self.needed = False  # a call below it matches --name
        self.printed = False  # printed early, without its duration


class _Queue:
    __slots__ = ("items", "start")

    def __init__(self) -> None:
        self.items: deque[_Line | Frame] = deque()
        self.start = 0  # absolute position of items[0]


_HIDDEN = object()  # a frame not shown, and nothing below it either
_DEEP = object()  # a frame below --max-depth: not shown, but --name may match it


class TreePrinter:
    """A consumer for :func:`~functrace.reading.scan_trace` that prints as it reads.

    ``emit(tag, depth, text)`` gets each line: depth 0 is a tag's header.
    """

    def __init__(
        self,
        emit: Callable[[str, int, str], None],
        selection: Selection | None = None,
        thread_names: dict[str, str] | None = None,
        limit: int = 2_000,
        names: dict[str, str] | None = None,
    ) -> None:
        self.emit = emit
        self.selection = selection or Selection()
        self.thread_names = thread_names if thread_names is not None else {}
        #: Tag -> the name its naming line gives it (a thread's or a task's): what
        #: a tag's heading shows first; jsonl's thread field otherwise.
        self.names = names if names is not None else {}
        self.limit = limit
        self.queues: dict[str, _Queue] = {}
        self.shown = 0  # call lines printed
        self._last_tag: str | None = None
        self._durations: dict[int, str] = {}

    def opened(self, frame: Frame) -> None:
        selection = self.selection
        parent = frame.parent
        if parent is not None and parent.data is _HIDDEN:
            frame.data = _HIDDEN
            return
        if parent is None and not selection.tag_shown(
            frame.tag, self.thread_names.get(frame.tag, "")
        ):
            frame.data = _HIDDEN
            return
        matched = selection.name is None or selection.name_matches(frame.name)
        if matched and selection.name is not None:
            self._need(parent)
        if selection.max_depth and frame.depth > selection.max_depth:
            frame.data = _DEEP
            return
        if parent is not None and isinstance(parent.data, _Node) and parent.data.matched:
            matched = True
        queue = self.queues.get(frame.tag)
        if queue is None:
            queue = self.queues[frame.tag] = _Queue()
        frame.data = _Node(queue.start + len(queue.items), matched)
        queue.items.append(frame)
        if len(queue.items) > self.limit:
            self._flush(frame.tag, queue, force=True)

    def _need(self, frame: Frame | None) -> None:
        while frame is not None:
            node = frame.data
            if isinstance(node, _Node):
                if node.needed or node.matched:
                    return
                node.needed = True
            frame = frame.parent

    def closed(self, frame: Frame) -> None:
        node = frame.data
        if not isinstance(node, _Node):
            return
        selection = self.selection
        queue = self.queues[frame.tag]
        shown = (node.matched or node.needed) and (
            not selection.min_duration_ns or selection.long_enough(frame)
        )
        label = call_label(frame, self._durations)
        if node.printed:
            # Its opening line went out early: its duration closes its calls.
            queue.items.append(_Closing(frame.depth, "… " + label))
        elif shown:
            queue.items[node.index - queue.start] = _Line(frame.depth, label)
        else:
            while queue.start + len(queue.items) > node.index:
                queue.items.pop()
        if queue.items and not isinstance(queue.items[0], Frame):
            self._flush(frame.tag, queue)

    def _flush(self, tag: str, queue: _Queue, force: bool = False) -> None:
        items = queue.items
        while items:
            item = items[0]
            if isinstance(item, Frame):
                node = item.data
                if not force or node.printed:
                    if node.printed:
                        items.popleft()  # its placeholder already went out
                        queue.start += 1
                        continue
                    return
                if not (node.matched or node.needed) and len(items) <= self.limit:
                    return
                node.printed = True
                self._print(tag, item.depth, item.name + " …")
                continue
            items.popleft()
            queue.start += 1
            self._print(tag, item.depth, item.text)
            if force and len(items) <= self.limit // 2:
                force = False

    def _print(self, tag: str, depth: int, text: str) -> None:
        if tag != self._last_tag:
            self._last_tag = tag
            name = self.names.get(tag) or self.thread_names.get(tag, "")
            self.emit(tag, 0, f"{tag} {name}" if name else tag)
        self.shown += 1
        self.emit(tag, depth, text)

    def finish(self) -> None:
        """Print what is left (every frame has closed by now)."""
        for tag, queue in self.queues.items():
            self._flush(tag, queue, force=True)
