"""The hot loops of a scan: lines read as functrace writes them, by lookup.

Trace lines repeat: the same call entered at the same depth, the same rounded
duration; in jsonl, everything after the time stamp. Each distinct piece is
parsed once by the general reader (:class:`~functrace.reading._read._Reader`,
which also judges bad lines) and then looked up. Any line that does not split
the expected way goes to the general reader, so both paths read alike; the
caches are bounded (cleared when full).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from functrace._runtime.lines import LINE_RE
from functrace.reading._read import _TEXT_SPAN_MAX, _Reader
from functrace.reading._stream import Stream

__all__ = ["run_jsonl", "run_text"]

_CACHE_MAX = 20_000
_INT_DIGITS = 19  # as many as 2**63-1 has; the value is checked too
_INT_MAX = 2**63 - 1
_TS_PREFIX = '{"v":1,"ts":'


def run_text(reader: _Reader, stream: Stream, lines: Iterator[tuple[int, str]]) -> None:
    enters: dict[str, tuple[str, int, str, bool]] = {}
    heads: dict[str, tuple[str, int, str]] = {}
    durations: dict[str, int] = {}
    enter = stream.enter
    exit_ = stream.exit
    feed = reader.feed
    match = LINE_RE.match
    clock = reader.clock
    for number, line in lines:
        ev = enters.get(line)
        if ev is not None:
            enter(ev[0], ev[1], ev[2], clock, ev[3])
            continue
        head, _, word = line.rpartition(" ")
        h = heads.get(head)
        if h is not None:
            d = durations.get(word)
            if d is not None and clock + d <= _TEXT_SPAN_MAX:
                end = exit_(h[0], h[1], h[2], None, d, None, None, now=clock).end_ns
                if end > clock:
                    clock = end
                continue
        # The general reader, then what it accepted is remembered.
        reader.clock = clock
        skipped = reader.skipped
        feed(line, number)
        clock = reader.clock
        if reader.skipped != skipped:
            continue
        m = match(line)
        if m is None:
            continue
        tag, indent, arrow, name, details = m.groups()
        if arrow == "->":
            if details is None or details == "resume":
                if len(enters) >= _CACHE_MAX:
                    enters.clear()
                enters[line] = (tag, len(indent) // 4, name, details == "resume")
        elif details is not None and " " not in details and details in reader._durations:
            if len(heads) >= _CACHE_MAX:
                heads.clear()
            if len(durations) >= _CACHE_MAX:
                durations.clear()
            heads[head] = (tag, len(indent) // 4, name)
            durations[word] = reader._durations[details]
    reader.clock = clock


#: key -> (tag, depth, name, enter?, resumed?, file, line)
_Key = tuple[str, int, str, bool, bool, str, int]


def run_jsonl(reader: _Reader, stream: Stream, lines: Iterator[tuple[int, str]]) -> None:
    keys: dict[str, _Key] = {}
    tails: dict[str, tuple[str | None, str | None]] = {}
    enter = stream.enter
    exit_ = stream.exit
    feed = reader.feed
    for number, line in lines:
        prefix, _, rest = line.partition(',"pid":')
        ts = prefix[12:]
        if (
            prefix[:12] == _TS_PREFIX
            and len(ts) <= _INT_DIGITS
            and ts.isdigit()
            and ts.isascii()
            and int(ts) <= _INT_MAX
        ):
            key, _, more = rest.partition(',"dur":')
            k = keys.get(key)
            if k is not None:
                if k[3]:
                    enter(k[0], k[1], k[2], int(ts), k[4], k[5], k[6])
                    continue
                dur, _, tail = more.partition(",")
                t = tails.get(tail)
                if (
                    t is not None
                    and len(dur) <= _INT_DIGITS
                    and dur.isdigit()
                    and dur.isascii()
                    and int(dur) <= int(ts)
                ):
                    exit_(k[0], k[1], k[2], int(ts), int(dur), t[0], t[1], k[5], k[6])
                    continue
        skipped = reader.skipped
        problems = sum(p.count for p in reader.problems.values())
        feed(line, number)
        if reader.skipped != skipped or problems != sum(p.count for p in reader.problems.values()):
            continue
        _remember(line, keys, tails)


def _remember(
    line: str, keys: dict[str, _Key], tails: dict[str, tuple[str | None, str | None]]
) -> None:
    """A line the general reader accepted: its pieces, for the next lines that share them."""
    prefix, _, rest = line.partition(',"pid":')
    if prefix[:12] != _TS_PREFIX:
        return
    try:
        event = json.loads(line)
    except ValueError:
        return
    key, _, more = rest.partition(',"dur":')
    kind = event["ev"]
    entering = kind in ("enter", "resume")
    if len(keys) >= _CACHE_MAX:
        keys.clear()
    keys[key] = (
        event["tag"],
        event["depth"],
        event["name"],
        entering,
        kind == "resume",
        event.get("file", ""),
        event.get("line", 0),
    )
    if not entering and more:
        if len(tails) >= _CACHE_MAX:
            tails.clear()
        tails[more.partition(",")[2]] = (event.get("exc"), event.get("suspended"))
