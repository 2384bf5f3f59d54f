"""The hot loops of a scan: lines read as functrace writes them, by the block.

Lines come in blocks (lists of lines without their newline). A line is cut into
pieces that repeat (a text enter line as a whole, an exit line up to its name;
in jsonl, everything after ``ts`` of an enter, the function and thread fields
and the exception fields of an exit), each looked up in a dict of pieces seen
before. The piece was learnt from a line the general reader
(:class:`~functrace.reading._read._Reader`) accepted and that the grammar's own
pattern cut the same way, so a line made of known pieces means what the
general reader would make of it. The common cases of
:class:`~functrace.reading._stream.Stream` (a call one deeper than the open
ones, the exit of the innermost call) are done in the loop, on the stream's own
stacks; any other line (a new piece, a line that skips calls, a malformed or
foreign line) goes through the general reader and the stream, which judge it
and report what is wrong, so both paths read alike. Caches are bounded (cleared
when full): memory does not grow with the trace.

With a :class:`~functrace.render.summary.Summary` that counts every call (no
filter), its rows are kept in the loop too (``summary_rows``).

When the optional compiled module (``_scan.c``) is built, every loop first hands
its block to it: it reads the lines in the exact shapes the runtime writes, on the
same stacks, and stops at the first other line, which the loop reads as above
(so the Python pieces still serve lines it leaves, such as names past Latin-1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from functrace._runtime.lines import ENTER, EXIT, INDENT, LINE_RE
from functrace.reading._read import _INT_MAX, _JSONL_RE, _TEXT_SPAN_MAX, _Reader
from functrace.reading._stream import Frame, Stream

#: The version of _scan.c this file is written for (a build of another is not used).
_SCAN_API = 3


def _load_scan() -> Any:
    """The optional compiled loop (setup.py) for the common lines of every loop here,
    if built for this file and for the line grammar of lines.py."""
    try:
        from functrace.reading import _scan
    except ImportError:
        return None
    api, grammar = getattr(_scan, "API", None), getattr(_scan, "GRAMMAR", None)
    return _scan if api == _SCAN_API and grammar == (INDENT, ENTER, EXIT) else None


_scan = _load_scan()

__all__ = ["run_jsonl", "run_text"]

_CACHE_MAX = 20_000
_TS_PREFIX = '{"v":1,"ts":'
_SUSPEND = frozenset({"yield", "await"})
_ENTERS = {"enter": False, "resume": True}

Blocks = Iterable[list[str]]
#: The compiled loop's run(lines, index, clock, last, count) -> (index, clock, last, count).
Run = Callable[[list[str], int, int, int, int], tuple[int, int, int, int]]


def _frames_run(stream: Stream, jsonl: bool, reader: _Reader) -> Run | None:
    """The compiled loop for :func:`run_text` or :func:`run_jsonl`, if built: it
    opens and closes frames on the stream's stacks as their common lines do."""
    if _scan is None:
        return None
    consumer = stream.consumer
    scanner = _scan.Scanner(
        stream.stacks,
        frame=Frame,
        opened=consumer.opened,
        closed=consumer.closed,
        jsonl=jsonl,
        known=reader.thread_names if jsonl else None,
    )
    run: Run = scanner.run
    return run


def run_text(
    reader: _Reader,
    stream: Stream,
    blocks: Blocks,
    number: int,
) -> int:
    """Feed the rest of the lines; the number of the last line."""
    # A line cut at its first "-" (the arrow's): "t[01]:        " or "t[01]:        <"
    # -> tag, depth, exit?; an enter's ">name[ resume]" -> name, resumed; an exit's
    # name -> the name (interned). Small dicts: their lookups stay in the cache.
    heads: dict[str, tuple[str, int, bool]] = {}
    enters: dict[str, tuple[str, bool]] = {}
    names: dict[str, str] = {}
    heads_get = heads.get
    enters_get = enters.get
    durations = reader._durations  # filled by the general reader, checked there
    durations_get = durations.get
    stacks = stream.stacks
    due = stream.due
    consumer = stream.consumer
    opened = consumer.opened
    closed = consumer.closed
    feed = reader.feed
    clock = reader.clock
    last = stream.last
    count = stream.opened_count
    run = _frames_run(stream, False, reader)
    tag: str | None = None
    stack: list[Frame] = []
    name: str | None
    for lines in blocks:
        size = len(lines)
        i = 0
        while i < size:
            if run is not None and not due:  # an origin due: its outermost call is Python's
                i, clock, last, count = run(lines, i, clock, last, count)
                if i >= size:
                    break
            line = lines[i]
            i += 1
            head, _, body = line.partition("-")
            h = heads_get(head)
            if h is not None:
                if h[0] is not tag:
                    tag = h[0]
                    stack = stacks.get(tag)  # type: ignore[assignment]
                    if stack is None:
                        stack = stacks[tag] = []
                if not h[2]:
                    e = enters_get(body)
                    if e is not None:
                        n = len(stack)
                        # An outermost call with an origin due: the general reader's.
                        if n < h[1] and (n or not due):
                            frame = Frame(
                                e[0], tag, n + 1, clock, e[1], "", 0, stack[-1] if n else None
                            )
                            stack.append(frame)
                            count += 1
                            opened(frame)
                            continue
                elif len(stack) == h[1]:
                    frame = stack[-1]
                    # The name is the open call's (so a name, checked when it opened).
                    name, _, word = body.rpartition(" ")
                    exc = suspended = None
                    if name != frame.name:
                        name, _, extra = name.rpartition(" ")
                        if name == frame.name and word and word.isprintable():
                            word, extra = extra, word
                            if extra[0] == "!":
                                exc = extra[1:]
                            elif extra in _SUSPEND:
                                suspended = extra
                        else:
                            name = None
                    if name is not None:
                        d = durations_get(word)
                        if d is not None and clock + d <= _TEXT_SPAN_MAX:
                            stack.pop()
                            end = frame.start_ns + d
                            if end < frame.inner_end:
                                end = frame.inner_end
                            frame.end_ns = end
                            frame.duration_ns = d
                            frame.exception = exc
                            frame.suspended = suspended
                            parent = frame.parent
                            if parent is not None:
                                parent.child_ns += d
                                if end > parent.inner_end:
                                    parent.inner_end = end
                            if end > last:
                                last = end
                            if end > clock:
                                clock = end
                            closed(frame)
                            continue
            # Anything else: the general reader, then learn the line's pieces.
            reader.clock = clock
            stream.last = last
            stream.opened_count = count
            feed(line, number + i)
            clock = reader.clock
            last = stream.last
            count = stream.opened_count
            tag = None
            _learn_text(line, heads, enters, names)
        number += size
    reader.clock = clock
    stream.last = last
    stream.opened_count = count
    return number


def run_text_summary(
    reader: _Reader, stream: Stream, blocks: Blocks, number: int, rows: dict[str, list[int]]
) -> int:
    """:func:`run_text` for a summary of every call: no :class:`Frame` for the common
    lines, only a list per open call ([name, resumed, children's time, start, inner
    end, its function's row]) and a row per function ([calls, total, own, max]) in
    ``rows``. The stacks become frames again (:func:`_to_frames`) for each line the
    general reader takes. An exit's name is checked against the open call's.
    """
    heads: dict[str, tuple[str, int, bool]] = {}
    enters: dict[str, tuple[str, bool]] = {}
    names: dict[str, str] = {}
    heads_get = heads.get
    durations = reader._durations
    durations_get = durations.get
    light: dict[str, list[list[Any]]] = {}
    _to_light(stream, light, rows)
    # An enter's ">name[ resume]" -> name, resumed, the function's row.
    enters_rows: dict[str, tuple[str, bool, list[int]]] = {}
    enters_get = enters_rows.get
    feed = reader.feed
    clock = last = reader.clock  # a text summary ends where its clock does
    count = stream.opened_count
    run = None if _scan is None else _scan.Scanner(light, rows=rows).run
    tag: str | None = None
    stack: list[list[Any]] = []
    name: str | None
    for lines in blocks:
        size = len(lines)
        i = 0
        while i < size:
            if run is not None:
                i, clock, last, count = run(lines, i, clock, last, count)
                if i >= size:
                    break
            line = lines[i]
            i += 1
            head, _, body = line.partition("-")
            h = heads_get(head)
            if h is not None:
                if h[0] is not tag:
                    tag = h[0]
                    stack = light.get(tag)  # type: ignore[assignment]
                    if stack is None:
                        stack = light[tag] = []
                if not h[2]:
                    e = enters_get(body)
                    if e is not None and len(stack) < h[1]:
                        stack.append([e[0], e[1], 0, clock, clock, e[2]])
                        count += 1
                        continue
                elif len(stack) == h[1]:
                    top = stack[-1]
                    # The name is the open call's (so a name, checked when it opened).
                    name, _, word = body.rpartition(" ")
                    if name != top[0]:
                        name, _, extra = name.rpartition(" ")
                        if name == top[0] and word and word.isprintable():
                            word = extra
                        else:
                            name = None
                    if name is not None:
                        d = durations_get(word)
                        if d is not None and clock + d <= _TEXT_SPAN_MAX:
                            stack.pop()
                            end = top[3] + d
                            if end < top[4]:
                                end = top[4]
                            if stack:
                                parent = stack[-1]
                                parent[2] += d
                                if end > parent[4]:
                                    parent[4] = end
                            if end > clock:
                                clock = end
                            row = top[5]
                            if not top[1]:
                                row[0] += 1
                            row[1] += d
                            own = d - top[2]
                            if own > 0:
                                row[2] += own
                            if d > row[3]:
                                row[3] = d
                            continue
            # Anything else: the general reader, on frames, then learn the line's pieces.
            _to_frames(light, stream)
            reader.clock = clock
            stream.last = clock
            stream.opened_count = count
            feed(line, number + i)
            clock = reader.clock
            count = stream.opened_count
            _to_light(stream, light, rows)
            tag = None
            _learn_text(line, heads, enters, names)
            if len(enters_rows) >= _CACHE_MAX:
                enters_rows.clear()
            learnt = enters.get(body)
            if learnt is not None and body not in enters_rows:
                enters_rows[body] = (learnt[0], learnt[1], _row(rows, learnt[0]))
        number += size
    _to_frames(light, stream)
    reader.clock = clock
    stream.last = clock
    stream.opened_count = count
    return number


def _row(rows: dict[str, list[int]], name: str) -> list[int]:
    row = rows.get(name)
    if row is None:
        row = rows[name] = [0, 0, 0, 0]
    return row


def _to_light(
    stream: Stream, light: dict[str, list[list[Any]]], rows: dict[str, list[int]]
) -> None:
    """The stream's open frames as lists (the stream's stacks left empty). Each list
    holds its function's row (a frame opened is counted, as unfinished at worst, so
    the summary has a row for it anyway)."""
    for tag, frames in stream.stacks.items():
        light[tag] = [
            [
                f.name,
                f.resumed,
                f.child_ns,
                f.start_ns,
                f.inner_end,
                _row(rows, f.name),
            ]
            for f in frames
        ]
        frames.clear()


def _to_frames(light: dict[str, list[list[Any]]], stream: Stream) -> None:
    """The lists back into the stream's stacks, as the frames they stand for."""
    stacks = stream.stacks
    for tag, entries in light.items():
        frames = stacks.get(tag)
        if frames is None:
            frames = stacks[tag] = []
        parent = None
        for name, resumed, child_ns, start, inner_end, _ in entries:
            frame = Frame(name, tag, len(frames) + 1, start, resumed, "", 0, parent)
            frame.child_ns = child_ns
            frame.inner_end = inner_end
            frames.append(frame)
            parent = frame
        entries.clear()


def _learn_text(
    line: str,
    heads: dict[str, tuple[str, int, bool]],
    enters: dict[str, tuple[str, bool]],
    names: dict[str, str],
) -> None:
    """The pieces of a text line the grammar's pattern cuts: any line made of such
    pieces is cut by it the same way."""
    m = LINE_RE.match(line)
    if m is None:
        return
    t, indent, arrow, name, details = m.groups()
    for cache in (heads, enters, names):
        if len(cache) >= _CACHE_MAX:
            cache.clear()
    name = names.setdefault(name, name)
    for known in heads.values():
        if known[0] == t:
            t = known[0]  # one string per tag: compared by identity
            break
    exit_ = arrow == EXIT
    depth = len(indent) // len(INDENT)
    heads[line[: m.start("arrow")] + ("<" if exit_ else "")] = (t, depth, exit_)
    if not exit_ and not (details and details[0] == "("):
        # An enter with arguments (FUNCTRACE_ARGS) always takes the general way: the
        # loop's frames would drop them.
        enters[line[m.start("arrow") + 1 :]] = (name, details == "resume")


def run_jsonl(reader: _Reader, stream: Stream, blocks: Blocks, number: int) -> int:
    """Feed the rest of the lines; the number of the last line.

    A line is cut in three::

        {"v":1,"ts":TS ,"pid": WHO ,"depth": WHAT

    WHO (the thread's fields) -> tag; an enter's WHAT (depth, event, the function's
    fields) -> depth, name, file, line, resumed; an exit's WHAT is cut again at
    ``,"dur":`` and after the duration: its head -> depth, name, file, line, and
    its tail (exception, suspended) -> exception, suspended.
    """
    whos: dict[str, str] = {}
    enters: dict[str, tuple[int, str, str, int, bool]] = {}
    exits: dict[str, tuple[int, str, str, int]] = {}
    tails: dict[str, tuple[str | None, str | None]] = {}
    whos_get = whos.get
    enters_get = enters.get
    exits_get = exits.get
    tails_get = tails.get
    stacks = stream.stacks
    due = stream.due
    consumer = stream.consumer
    opened = consumer.opened
    closed = consumer.closed
    feed = reader.feed
    clock = 0  # jsonl lines hold their times
    last = stream.last
    count = stream.opened_count
    run = _frames_run(stream, True, reader)
    tag: str | None = None
    stack: list[Frame] = []
    parent: Frame | None
    for lines in blocks:
        size = len(lines)
        i = 0
        while i < size:
            if run is not None and not due:  # an origin due: its outermost call is Python's
                i, clock, last, count = run(lines, i, clock, last, count)
                if i >= size:
                    break
            line = lines[i]
            i += 1
            pre, _, rest = line.partition(',"pid":')
            who, _, what = rest.partition(',"depth":')
            w = whos_get(who)
            ts = pre[12:]
            if w is not None and pre[:12] == _TS_PREFIX and ts.isdigit() and ts.isascii():
                t = int(ts)
                if t <= _INT_MAX:
                    if w is not tag:
                        tag = w
                        stack = stacks.get(tag)  # type: ignore[assignment]
                        if stack is None:
                            stack = stacks[tag] = []
                    e = enters_get(what)
                    if e is not None:
                        n = len(stack)
                        if n < e[0] and (n or not due):  # due: see run_text
                            if n:
                                parent = stack[-1]
                                if t < parent.start_ns:
                                    t = parent.start_ns
                            else:
                                parent = None
                            frame = Frame(e[1], tag, n + 1, t, e[4], e[2], e[3], parent)
                            stack.append(frame)
                            count += 1
                            opened(frame)
                            continue
                    else:
                        head, _, more = what.partition(',"dur":')
                        x = exits_get(head)
                        if x is not None:
                            dur, _, tail = more.partition(",")
                            z = tails_get(tail)
                            if (
                                z is not None
                                and dur.isdigit()
                                and dur.isascii()
                                and int(dur) <= t
                                and len(stack) == x[0]
                                and stack[-1].name == x[1]
                            ):
                                d = int(dur)
                                frame = stack.pop()
                                end = t
                                if end < frame.inner_end:
                                    end = frame.inner_end
                                if end < frame.start_ns:
                                    end = frame.start_ns
                                frame.end_ns = end
                                frame.duration_ns = d
                                frame.exception = z[0]
                                frame.suspended = z[1]
                                parent = frame.parent
                                if parent is not None:
                                    parent.child_ns += d
                                    if end > parent.inner_end:
                                        parent.inner_end = end
                                if end > last:
                                    last = end
                                closed(frame)
                                continue
            # Anything else: the general reader, then learn the line's pieces.
            stream.last = last
            stream.opened_count = count
            skipped = reader.skipped
            feed(line, number + i)
            last = stream.last
            count = stream.opened_count
            tag = None
            if reader.skipped == skipped:
                _learn(line, who, what, whos, enters, exits, tails)
        number += size
    stream.last = last
    stream.opened_count = count
    return number


def run_jsonl_summary(
    reader: _Reader, stream: Stream, blocks: Blocks, number: int, rows: dict[str, list[int]]
) -> int:
    """:func:`run_jsonl` for a summary of every call, with lists for the open calls
    as :func:`run_text_summary` has them."""
    whos: dict[str, str] = {}
    enters: dict[str, tuple[int, str, str, int, bool]] = {}
    exits: dict[str, tuple[int, str, str, int]] = {}
    tails: dict[str, tuple[str | None, str | None]] = {}
    # An enter's WHAT -> depth, name, resumed, the function's row.
    enters_rows: dict[str, tuple[int, str, bool, list[int]]] = {}
    whos_get = whos.get
    enters_get = enters_rows.get
    exits_get = exits.get
    light: dict[str, list[list[Any]]] = {}
    _to_light(stream, light, rows)
    feed = reader.feed
    clock = 0
    last = stream.last
    count = stream.opened_count
    run = None
    if _scan is not None:
        run = _scan.Scanner(light, rows=rows, jsonl=True, known=reader.thread_names).run
    tag: str | None = None
    stack: list[list[Any]] = []
    for lines in blocks:
        size = len(lines)
        i = 0
        while i < size:
            if run is not None:
                i, clock, last, count = run(lines, i, clock, last, count)
                if i >= size:
                    break
            line = lines[i]
            i += 1
            pre, _, rest = line.partition(',"pid":')
            who, _, what = rest.partition(',"depth":')
            w = whos_get(who)
            ts = pre[12:]
            if w is not None and pre[:12] == _TS_PREFIX and ts.isdigit() and ts.isascii():
                t = int(ts)
                if t <= _INT_MAX:
                    if w is not tag:
                        tag = w
                        stack = light.get(tag)  # type: ignore[assignment]
                        if stack is None:
                            stack = light[tag] = []
                    e = enters_get(what)
                    if e is not None:
                        if len(stack) < e[0]:
                            if stack and t < stack[-1][3]:
                                t = stack[-1][3]
                            stack.append([e[1], e[2], 0, t, t, e[3]])
                            count += 1
                            continue
                    elif stack:
                        head, _, more = what.partition(',"dur":')
                        x = exits_get(head)
                        if x is not None:
                            dur, _, tail = more.partition(",")
                            top = stack[-1]
                            if (
                                len(stack) == x[0]
                                and top[0] == x[1]
                                and tail in tails
                                and dur.isdigit()
                                and dur.isascii()
                                and int(dur) <= t
                            ):
                                d = int(dur)
                                stack.pop()
                                end = t
                                if end < top[4]:
                                    end = top[4]
                                if end < top[3]:
                                    end = top[3]
                                if stack:
                                    parent = stack[-1]
                                    parent[2] += d
                                    if end > parent[4]:
                                        parent[4] = end
                                if end > last:
                                    last = end
                                row = top[5]
                                if not top[1]:
                                    row[0] += 1
                                row[1] += d
                                own = d - top[2]
                                if own > 0:
                                    row[2] += own
                                if d > row[3]:
                                    row[3] = d
                                continue
            # Anything else: the general reader, on frames, then learn the line's pieces.
            _to_frames(light, stream)
            stream.last = last
            stream.opened_count = count
            skipped = reader.skipped
            feed(line, number + i)
            last = stream.last
            count = stream.opened_count
            _to_light(stream, light, rows)
            tag = None
            if reader.skipped == skipped:
                _learn(line, who, what, whos, enters, exits, tails)
                if len(enters_rows) >= _CACHE_MAX:
                    enters_rows.clear()
                learnt = enters.get(what)
                if learnt is not None and what not in enters_rows:
                    row = _row(rows, learnt[1])
                    enters_rows[what] = (learnt[0], learnt[1], learnt[4], row)
        number += size
    _to_frames(light, stream)
    stream.last = last
    stream.opened_count = count
    return number


def _learn(
    line: str,
    who: str,
    what: str,
    whos: dict[str, str],
    enters: dict[str, tuple[int, str, str, int, bool]],
    exits: dict[str, tuple[int, str, str, int]],
    tails: dict[str, tuple[str | None, str | None]],
) -> None:
    """The pieces of a line the general reader accepted, when functrace's own layout
    (``_JSONL_RE``) cuts it: each piece is a stretch of that pattern that no other
    piece's text can reach into (a JSON string there holds no quote), so any line
    made of known pieces matches it the same way."""
    m = _JSONL_RE.match(line)
    if m is None:
        return
    _ts, pid, tid, _thread, tag, depth, kind, name, file, lineno, dur, exc, susp = m.groups()
    if max(int(pid), int(tid), int(depth), int(lineno)) > _INT_MAX:
        return
    for cache in (whos, enters, exits, tails):
        if len(cache) >= _CACHE_MAX:
            cache.clear()
    for known in whos.values():
        if known == tag:
            tag = known  # one string per tag: compared by identity
            break
    whos[who] = tag
    resumed = _ENTERS.get(kind)
    if resumed is not None:
        if dur is None:
            enters[what] = (int(depth), name, file, int(lineno), resumed)
        return
    if dur is None:
        return
    head, _, more = what.partition(',"dur":')
    exits[head] = (int(depth), name, file, int(lineno))
    tails[more.partition(",")[2]] = (exc, susp)
