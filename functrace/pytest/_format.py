"""A failing test's trace cut to what explains the failure.

A trace that fits is shown whole. A longer one is shown as one chain: from the
test's top-level call down to the call that raised (each level's last call that
raised), or, when no traced call raised (an ``assert`` on a result), down the
calls that ran last. The chain's calls keep their own lines; the calls around
them at each level are folded to one line that counts them by name.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from functrace._runtime.lines import ENTER, INDENT, LINE_RE, split_value

__all__ = ["capped", "explain"]


def capped(lines: list[str], limit: int) -> tuple[list[str], int]:
    """At most ``limit`` lines: the first and the last half (the end is where a
    failure's exception lines are), and how many were cut from the middle."""
    if limit <= 0 or len(lines) <= limit:
        return lines, 0
    head = limit // 2
    tail = limit - head
    cut = len(lines) - limit
    return [*lines[:head], f"... {cut} lines cut ...", *lines[len(lines) - tail :]], cut


class _Call:
    __slots__ = ("children", "depth", "enter", "exit", "name", "tag")

    def __init__(self, name: str, tag: str, depth: int) -> None:
        self.name, self.tag, self.depth = name, tag, depth
        self.enter: str | None = None
        self.exit: str | None = None
        self.children: list[_Call] = []

    @property
    def raised(self) -> bool:
        match = LINE_RE.match(self.exit or "")
        details = match["details"] if match else None
        words = split_value(details)[0] if details is not None else ""
        return any(w.startswith("!") for w in words.split())


def _calls(lines: Sequence[str]) -> list[_Call]:
    """The top-level calls of every thread and task, in the order they began; a
    call whose enter line is missing (cut, or running before the file began)
    still gets its place from its exit line."""
    roots: list[_Call] = []
    stacks: dict[str, list[_Call]] = {}
    for line in lines:
        match = LINE_RE.match(line)
        if match is None:
            continue
        tag, name, depth = match["tag"], match["name"], len(match["indent"]) // len(INDENT)
        stack = stacks.setdefault(tag, [])
        if match["arrow"] == ENTER:
            del stack[depth - 1 :]
            call = _Call(name, tag, depth)
            call.enter = line
            (stack[-1].children if stack else roots).append(call)
            stack.append(call)
            continue
        if len(stack) >= depth and stack[depth - 1].name == name:
            stack[depth - 1].exit = line
        else:
            del stack[depth - 1 :]
            call = _Call(name, tag, depth)
            call.exit = line
            (stack[-1].children if stack else roots).append(call)
        del stack[depth - 1 :]
    return roots


def _chain(roots: list[_Call]) -> tuple[list[_Call], bool]:
    """The calls from a top-level one down, and whether they are an exception's."""
    raising = any(call.raised for call in roots)
    chain: list[_Call] = []
    level = roots
    while level:
        pick = [c for c in level if c.raised] if raising else level
        if not pick:
            break
        chain.append(pick[-1])
        level = pick[-1].children
    return chain, raising


def _fold(calls: list[_Call], where: str, tag: str, depth: int) -> list[str]:
    if not calls:
        return []
    names = collections.Counter(c.name for c in calls)
    shown = [f"{n} ×{k}" if k > 1 else n for n, k in list(names.items())[:3]]
    if len(names) > 3:
        shown.append(f"{len(names) - 3} more names")
    s = "s" if len(calls) > 1 else ""
    return [f"{tag}:{INDENT * depth}... {len(calls)} call{s} {where} ({', '.join(shown)})"]


def explain(lines: list[str], limit: int) -> tuple[list[str], str | None]:
    """``lines`` as the section shows them, and what was left out (None: nothing,
    the trace fits in ``limit`` lines, 0 meaning no cap)."""
    if limit <= 0 or len(lines) <= limit:
        return lines, None
    roots = _calls(lines)
    chain, raising = _chain(roots)
    if not chain:
        return lines, None
    tag = chain[0].tag
    shown: list[str] = []

    def emit(at: int, level: list[_Call]) -> None:
        call = chain[at]
        index = next(i for i, c in enumerate(level) if c is call)
        shown.extend(_fold(level[:index], "before", tag, call.depth))
        if call.enter is not None:
            shown.append(call.enter)
        if at + 1 < len(chain):
            emit(at + 1, call.children)
        else:
            shown.extend(_fold(call.children, "inside", tag, call.depth + 1))
        if call.exit is not None:
            shown.append(call.exit)
        shown.extend(_fold(level[index + 1 :], "after", tag, call.depth))

    emit(0, [c for c in roots if c.tag == tag])
    shown += [line for line in lines if line.startswith("# functrace:")]  # a cut, say
    others = sum(1 for c in roots if c.tag != tag)
    what = "the chain to the exception" if raising else "the calls that ran last"
    left = f"{what}, other calls folded to counts ({len(lines)} lines in all"
    if others:
        left += f"; {others} calls of other threads or tasks not shown"
    return shown, left + ")"
