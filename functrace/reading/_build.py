"""Events (enter, resume, exit, suspend) into call trees, one stack per tag.

Tolerant by design: a trace cut off mid-way leaves calls open (``end_ns`` None),
an exit whose enter is missing (the file starts mid-way) becomes a call that
ended then, and an exit that skips open calls closes back to its own call,
leaving the skipped ones open.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from functrace._runtime.record import Call, Origin

__all__ = ["Builder", "find_open", "take_due"]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


def find_open(stack: Sequence[_N], depth: int, name: str) -> int | None:
    """Where in ``stack`` the open call an exit of ``name`` at ``depth`` closes: the
    one at its depth, else the innermost of that name, else None (its enter was
    never seen). The tree builder and the stream close the same call."""
    if 1 <= depth <= len(stack) and stack[depth - 1].name == name:
        return depth - 1
    for i in range(len(stack) - 1, -1, -1):
        if stack[i].name == name:
            return i
    return None


def take_due(due: dict[str, Origin], tag: str) -> Origin | None:
    """The origin of an outermost call of ``tag`` starting now: its own tag's, else
    (a task's first call) its thread's, when the thread's first traced call is in
    one of its tasks (a thread that runs an event loop)."""
    origin = due.pop(tag, None)
    if origin is None and tag.endswith("]") and "a[" in tag:
        origin = due.pop(tag[: tag.index("a[")], None)
    return origin


class Builder:
    def __init__(self) -> None:
        self.roots: list[Call] = []
        self.stacks: dict[str, list[Call]] = {}
        #: Tag -> the origin of its next outermost call (the reader fills it in).
        self.due: dict[str, Origin] = {}

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
    ) -> Call:
        stack = self.stacks.setdefault(tag, [])
        if depth >= 1 and len(stack) >= depth:
            del stack[depth - 1 :]  # their exits never came: they stay open
        call = Call(name, tag, t, file, line, resumed)
        call.args = args
        self._attach(call, stack[-1] if stack else None)
        if not stack and self.due:
            call.origin = take_due(self.due, tag)
        stack.append(call)
        return call

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
    ) -> Call:
        """Close the matching open call; ``t_end`` None means start + duration.

        Without ``t_end``, an exit whose enter is missing starts at ``now``.
        """
        stack = self.stacks.setdefault(tag, [])
        index = find_open(stack, depth, name)
        if index is None:
            # An exit without its enter: the call started before the trace did.
            start = now if t_end is None else t_end - duration
            parent_depth = min(depth - 1, len(stack))
            parent = stack[parent_depth - 1] if parent_depth >= 1 else None
            call = Call(name, tag, start, file, line)
            self._attach(call, parent)
        else:
            call = stack[index]
            del stack[index:]
        call.end_ns = call.start_ns + duration if t_end is None else t_end
        call.exception = exception
        call.suspended = suspended
        call.returned = value
        return call

    def _attach(self, call: Call, parent: Call | None) -> None:
        if parent is None:
            self.roots.append(call)
        else:
            call._parent = parent
            parent.children.append(call)
