"""The hot loops of a scan: lines read as functrace writes them, piece by piece.

A line is cut with ``str.partition`` into pieces that repeat (a tag, a name, a
rounded duration; in jsonl, the thread's fields, the function's fields, the
exception's); each distinct piece is checked once and then looked up. Any line
that does not cut the expected way, or holds a piece not seen before, goes to
the general reader (:class:`~functrace.reading._read._Reader`), which judges it
and reports what is wrong, so both paths read alike. Caches are bounded
(cleared when full): memory does not grow with the trace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from functrace.reading._read import _INT_MAX, _TEXT_SPAN_MAX, _Reader
from functrace.reading._stream import Stream

__all__ = ["run_jsonl", "run_text"]

_CACHE_MAX = 20_000
_TAG_RE = re.compile(r"t\[[0-9.]+\](?:a\[[0-9]+\])?")
_NAME_RE = re.compile(r"\S+")
_TS_PREFIX = '{"v":1,"ts":'
_SUSPEND = frozenset({"yield", "await"})


def _checked(cache: dict[str, bool], piece: str, pattern: re.Pattern[str]) -> bool:
    ok = cache.get(piece)
    if ok is None:
        ok = pattern.fullmatch(piece) is not None
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[piece] = ok
    return ok


def run_text(reader: _Reader, stream: Stream, lines: Iterator[tuple[int, str]]) -> int:
    """Feed the rest of ``lines``; the number of the last line (0: there was none)."""
    number = 0
    tags: dict[str, bool] = {}
    names: dict[str, bool] = {}
    durations = reader._durations  # filled by the general reader, checked there
    enter = stream.enter
    exit_ = stream.exit
    feed = reader.feed
    clock = reader.clock
    for number, line in lines:
        tag, _, rest = line.partition(":")
        if tags.get(tag) or _checked(tags, tag, _TAG_RE):
            body = rest.lstrip(" ")
            spaces = len(rest) - len(body)
            if spaces and not spaces & 3:
                arrow = body[:2]
                name, _, details = body[2:].rstrip("\n").partition(" ")
                if names.get(name) or _checked(names, name, _NAME_RE):
                    if arrow == "->":
                        if not details or details == "running":
                            enter(tag, spaces >> 2, name, clock, False)
                            continue
                        if details == "resume":
                            enter(tag, spaces >> 2, name, clock, True)
                            continue
                    elif arrow == "<-" and details:
                        word, _, extra = details.partition(" ")
                        d = durations.get(word)
                        if d is not None and clock + d <= _TEXT_SPAN_MAX:
                            exc = suspended = None
                            if not extra:
                                pass
                            elif extra[0] == "!" and " " not in extra:
                                exc = extra[1:]
                            elif extra in _SUSPEND:
                                suspended = extra
                            else:
                                extra = "?"  # the general reader knows the rest
                            if extra != "?":
                                end = exit_(
                                    tag, spaces >> 2, name, None, d, exc, suspended, now=clock
                                ).end_ns
                                if end > clock:
                                    clock = end
                                continue
        reader.clock = clock
        feed(line, number)
        clock = reader.clock
    reader.clock = clock
    return number


#: A jsonl line as functrace writes it, cut into pieces::
#:
#:   {"v":1,"ts":TS ,"pid": WHO ,"depth": DEPTH ,"ev":" EV ", WHAT [,"dur": DUR , TAIL]
#:
#: WHO: the thread's fields; WHAT: the function's (and "running"); TAIL: exc, suspended.
_WHO = frozenset({"pid", "tid", "thread", "task", "tag"})
_WHAT = {frozenset({"name", "file", "line"}), frozenset({"running", "name", "file", "line"})}
_TAIL = frozenset({"exc", "suspended"})
_ENTERS = {"enter": False, "resume": True}
_EXITS = frozenset({"exit", "suspend"})


def _digits(text: str) -> bool:
    return 0 < len(text) <= 19 and text.isdigit() and text.isascii() and int(text) <= _INT_MAX


def run_jsonl(reader: _Reader, stream: Stream, lines: Iterator[tuple[int, str]]) -> int:
    """Feed the rest of ``lines``; the number of the last line (0: there was none)."""
    number = 0
    whos: dict[str, str] = {}  # piece -> tag (its thread already noted by the reader)
    whats: dict[str, tuple[str, str, int]] = {}  # piece -> name, file, line
    tails: dict[str, tuple[str | None, str | None]] = {}
    enter = stream.enter
    exit_ = stream.exit
    feed = reader.feed
    for number, line in lines:
        prefix, _, rest = line.partition(',"pid":')
        who, _, rest = rest.partition(',"depth":')
        depth, _, rest = rest.partition(',"ev":"')
        ev, _, rest = rest.partition('",')
        tag = whos.get(who)
        ts = prefix[12:]
        if tag is not None and prefix[:12] == _TS_PREFIX and _digits(ts) and _digits(depth):
            resumed = _ENTERS.get(ev)
            if resumed is not None:
                what = whats.get(rest)
                if what is not None:
                    enter(tag, int(depth), what[0], int(ts), resumed, what[1], what[2])
                    continue
            elif ev in _EXITS:
                head, _, more = rest.partition(',"dur":')
                what = whats.get(head)
                dur, _, tail = more.partition(",")
                t = tails.get(tail)
                if what is not None and t is not None and _digits(dur) and int(dur) <= int(ts):
                    exit_(tag, int(depth), what[0], int(ts), int(dur), t[0], t[1], what[1], what[2])
                    continue
        skipped = reader.skipped
        feed(line, number)
        if reader.skipped == skipped and prefix[:12] == _TS_PREFIX:
            _remember(who, ev, rest, whos, whats, tails)
    return number


def _object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads("{" + text + "}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _remember(
    who: str,
    ev: str,
    rest: str,
    whos: dict[str, str],
    whats: dict[str, tuple[str, str, int]],
    tails: dict[str, tuple[str | None, str | None]],
) -> None:
    """The pieces of a line the general reader accepted, each kept only if it holds
    exactly the fields it should (so no piece can bring a second "ts" along)."""
    for cache in (whos, whats, tails):
        if len(cache) >= _CACHE_MAX:
            cache.clear()
    fields = _object('"pid":' + who)
    if fields is not None and fields.keys() == _WHO and isinstance(fields["tag"], str):
        whos[who] = fields["tag"]
    if ev in _ENTERS:
        what, more = rest, ""
        inner = rest.rstrip()
        if not inner.endswith("}"):
            return
        inner = inner[:-1]
    else:
        what, _, more = rest.partition(',"dur":')
        inner = what
    fields = _object(inner)
    if fields is not None and frozenset(fields) in _WHAT:
        name, file, lineno = fields["name"], fields["file"], fields["line"]
        if (
            isinstance(name, str)
            and isinstance(file, str)
            and type(lineno) is int
            and 0 <= lineno <= _INT_MAX
        ):
            whats[what] = (name, file, lineno)
    if more:
        tail = more.partition(",")[2]
        inner = tail.rstrip()
        fields = _object(inner[:-1]) if inner.endswith("}") else None
        if fields is not None and fields.keys() == _TAIL:
            exc, suspended = fields["exc"], fields["suspended"]
            if (exc is None or isinstance(exc, str)) and suspended in (None, "yield", "await"):
                tails[tail] = (exc, suspended)
