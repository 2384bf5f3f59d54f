"""Call trees with each thread's, task's and thread-pool job's calls under the call
that started them (``functrace show --under-origin``)::

    t[01] MainThread
        app.main 2.00ms
            ⤷ t[01]a[02] task "Task-2"
                app.fetch 17.5µs await
                app.fetch resume 31.2µs

The whole trace is read first (a started task's calls may come long after the
call that started it was printed). An outermost call goes under the call its
origin names (the latest call of that name in that tag, started no later); a
later outermost call of the same tag without an origin of its own (a task's
next run) follows its tag's previous one. Anything else stays under its tag's
header, as ``show`` prints it.
"""

from __future__ import annotations

from collections.abc import Iterator

from functrace._runtime.lines import format_duration
from functrace._runtime.record import Call
from functrace.reading.trace import Trace

__all__ = ["origin_tree"]

#: Marks the line that says which thread, task or job starts here.
STARTED = "⤷"


def label(call: Call) -> str:
    parts = [call.name]
    if call.resumed:
        parts.append("resume")
    duration = call.duration_ns
    if duration is None:
        parts.append("… unfinished")
        return " ".join(parts)
    parts.append(format_duration(duration))
    if call.exception is not None:
        parts.append("!" + call.exception)
    elif call.suspended is not None:
        parts.append(call.suspended)
    return " ".join(parts)


def origin_tree(trace: Trace, max_depth: int = 0) -> Iterator[tuple[str, int, str]]:
    """``(tag, depth, text)`` per line: depth 0 is a tag's header; calls below
    ``max_depth`` (0: no limit) are left out, with what hangs under them."""
    starters = trace.origin_calls()
    #: id(call) -> [(start, header text, roots started there)]
    grafted: dict[int, list[tuple[int, str, list[Call]]]] = {}
    top: list[tuple[str, list[Call]]] = []  # (tag, roots) blocks printed at top level
    last_block: dict[str, list[Call]] = {}
    for root in sorted(trace.roots, key=lambda c: c.start_ns):
        starter = starters.get(id(root))
        if starter is not None and root.origin is not None:
            block = [root]
            grafted.setdefault(id(starter), []).append((root.start_ns, _header(trace, root), block))
            last_block[root.tag] = block
        elif root.origin is None and root.tag in last_block:
            last_block[root.tag].append(root)
        else:
            block = [root]
            top.append((root.tag, block))
            last_block[root.tag] = block
    previous: str | None = None
    for tag, roots in top:
        if tag != previous:
            name = trace.names.get(tag) or trace.thread_names.get(tag)
            yield tag, 0, f"{tag} {name}" if name else tag
            previous = tag
        for root in roots:
            yield from _lines(root, 1, grafted, max_depth)


def _header(trace: Trace, root: Call) -> str:
    origin = root.origin
    assert origin is not None
    name = trace.names.get(root.tag)
    if origin.kind == "job":
        what = "job" if name is None else f'job (thread "{name}")'
    else:
        what = origin.kind if name is None else f'{origin.kind} "{name}"'
    return f"{STARTED} {root.tag} {what}"


def _lines(
    call: Call, depth: int, grafted: dict[int, list[tuple[int, str, list[Call]]]], max_depth: int
) -> Iterator[tuple[str, int, str]]:
    if max_depth and depth > max_depth:
        return
    yield call.tag, depth, label(call)
    started = grafted.get(id(call), [])
    items: list[tuple[int, int, Call | tuple[str, list[Call]]]] = [
        (child.start_ns, 1, child) for child in call.children
    ]
    items += [(start, 0, (text, roots)) for start, text, roots in started]
    items.sort(key=lambda item: (item[0], item[1]))  # a start before a call at the same time
    for _, _, item in items:
        if isinstance(item, Call):
            yield from _lines(item, depth + 1, grafted, max_depth)
        else:
            text, roots = item
            if max_depth and depth + 1 > max_depth:
                continue
            yield roots[0].tag, depth + 1, text
            for root in roots:
                yield from _lines(root, depth + 2, grafted, max_depth)
