"""Parse a text or jsonl trace into a :class:`Trace`, one line at a time.

The format is decided by the first line that claims to be a trace line. Lines
that are no trace lines at all (the program's own output, when the trace went
to stderr) are counted in ``Trace.skipped_lines`` and nothing more. Lines that
claim to be trace lines but cannot be read (a torn last line, a field of the
wrong type, an absurd duration, a line of the other format) are skipped too,
and recorded in ``Trace.problems``: one entry per kind of problem, so a trace
of ten million bad lines still reports in a few lines.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from functrace._runtime.lines import (
    ENTER,
    INDENT,
    JOB_RE,
    LINE_AT_END_RE,
    LINE_RE,
    NAME_RE,
    PROCESS_RE,
    parse_duration,
    split_args,
    split_value,
)
from functrace._runtime.record import Origin
from functrace.reading._build import Builder
from functrace.reading._stream import Stream
from functrace.reading._timeline import fit
from functrace.reading.trace import Problem, Trace

__all__ = ["read_trace", "read_trace_lines", "read_trace_text"]

_SUSPEND_WORDS = frozenset({"yield", "await"})
_KINDS = frozenset({"enter", "resume", "exit", "suspend"})
#: jsonl events that name what a tag (or a pid) stands for: no calls, never skipped.
_NAMING = frozenset({"process", "thread", "task", "job"})
#: What a text line starts with (its tag); a line that has one claims to be a trace line.
_TAG_RE = re.compile(r"t\[[0-9.]+\](?:a\[[0-9]+\])?:")
#: Integers a trace can hold: exporters write them as int64/uint64 nanoseconds.
_INT_MAX = 2**63 - 1
#: How long a rebuilt text timeline may get (about 31 years): its start,
#: the file's time less this, stays after 1970.
_TEXT_SPAN_MAX = 10**18
_CACHE_MAX = 20_000
#: A string without escapes: one with them goes to the JSON parser.
_JSON_STR = r'"([^"\\]*)"'
#: A jsonl line as functrace's runtime writes it (keys in its order); any other
#: layout is read by the JSON parser.
_JSONL_RE = re.compile(
    r'\{"v":1,"ts":([0-9]+),"pid":([0-9]+),"tid":([0-9]+),"thread":' + _JSON_STR + r","
    r'"task":(?:null|[0-9]+),"tag":"(t\[[0-9.]+\](?:a\[[0-9]+\])?)","depth":([0-9]+),'
    r'"ev":"(enter|resume|exit|suspend)",(?:"running":true,)?"name":' + _JSON_STR + r","
    r'"file":' + _JSON_STR + r',"line":([0-9]+)'
    r'(?:,"dur":([0-9]+),"exc":(?:null|' + _JSON_STR + r'),"suspended":(?:null|"(yield|await)"))?'
    r"\}\s*$"
)
_MISSING: Any = object()
#: The line the runtime writes where ``FUNCTRACE_MAX_LINES`` cut the trace
#: (``functrace._runtime.output.CUT_MARKER``); group 1: the lines written before it.
CUT_RE = re.compile(
    r"^# functrace: trace cut after ([0-9]{1,19}) lines \(FUNCTRACE_MAX_LINES\)\s*$"
)
#: What a line torn by a kill mid-write can start as: a tag (or its first letter), a
#: JSON object, a naming line; or a tag after the program's own text.
_TORN_RE = re.compile(r"\s*(?:t(?:\[|$)|\{|# )|.*" + _TAG_RE.pattern)


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Read a trace file, text or jsonl (told apart by its first trace line).

    A text trace has no clock: it is placed so that it ends at the file's
    modification time. The file is read line by line, never whole. A last line
    torn mid-write is not read (see :func:`read_trace_lines`).
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        trace = read_trace_lines(f, end_epoch_ns=os.fstat(f.fileno()).st_mtime_ns, drop_torn=True)
    return trace


def read_trace_text(text: str, end_epoch_ns: int | None = None) -> Trace:
    """Parse trace lines already in memory; ``end_epoch_ns`` places a text trace in time."""
    return read_trace_lines(io.StringIO(text, newline=None), end_epoch_ns)


def read_trace_lines(
    lines: Iterable[str], end_epoch_ns: int | None = None, drop_torn: bool = False
) -> Trace:
    """Parse trace lines from any iterable (an open file, ``sys.stdin``), consumed once.

    Line numbers in ``Trace.problems`` count the items of ``lines`` from 1. With
    ``drop_torn``, a last line without its newline that starts like a trace line
    is a write cut by a kill: it is not read, and ``Trace.torn_line`` is its number.
    """
    reader = _Reader()
    feed = reader.feed
    held: str | None = None
    number = 0
    for number, line in enumerate(lines, 1):
        if held is not None:
            feed(held, number - 1)  # a trailing newline is harmless to every check
        held = line
    torn = 0
    if held is not None:
        if drop_torn and is_torn(held):
            torn = number
        else:
            feed(held, number)
    trace = reader.finish(time.time_ns() if end_epoch_ns is None else end_epoch_ns)
    trace.torn_line = torn
    return trace


def is_torn(last: str) -> bool:
    """Whether ``last``, a trace's last line, is one cut mid-write: no newline at its
    end (the runtime writes whole lines) and the start of a trace line (a JSON object
    that parses is whole, whatever its end)."""
    if last.endswith(("\n", "\r")) or _TORN_RE.match(last) is None:
        return False
    if last.lstrip().startswith("{"):
        try:
            json.loads(last)
        except (ValueError, RecursionError):
            return True
        return False
    return True


class _Skip(Exception):
    """A line that claims to be a trace line and cannot be read."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _looks_text(line: str) -> bool:
    return _TAG_RE.match(line) is not None


def _looks_jsonl(line: str) -> bool:
    # Not any "{": a program printing a dict to the same stderr is not a trace line.
    stripped = line.lstrip()
    return stripped.startswith("{") and (stripped.startswith('{"v":') or '"ev"' in stripped)


def _show(value: object) -> str:
    """``repr`` of a bad value, cut to stay one readable line."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Reader:
    def __init__(self, builder: Builder | Stream | None = None) -> None:
        self.builder: Builder | Stream = Builder() if builder is None else builder
        self.source: str | None = None
        #: Called with the source ("text" or "jsonl") once the first trace line decides it.
        self.on_source: Callable[[str], None] | None = None
        # Lines repeat (the same call entered at the same depth, the same rounded
        # duration): their parse is looked up, bounded by _CACHE_MAX entries.
        self._groups: dict[str, tuple[Any, ...] | None] = {}
        self._durations: dict[str, int] = {}
        self.skipped = 0
        self.problems: dict[str, Problem] = {}
        self.thread_names: dict[str, str] = {}
        self.thread_ids: dict[str, tuple[int, int]] = {}
        #: What the naming lines (text ``# t[02] = thread "..."``, jsonl "thread" and
        #: "task" events) call each tag: the last name given.
        self.names: dict[str, str] = {}
        #: Tag -> the traced call that started its thread or task (naming lines).
        self.origins: dict[str, Origin] = {}
        #: Tag -> the origin its next outermost call gets (its first: the tag's own;
        #: after a job line: the job's). The builder takes it from here.
        self.due: dict[str, Origin] = {}
        self.builder.due = self.due
        #: Called with (tag, origin, time) for each start the trace tells of (a
        #: naming line with an origin, a job line); time: the line's place on the clock.
        self.on_origin: Callable[[str, Origin, int], None] | None = None
        self.clock = 0  # text: rebuilt time, each event as late as anything before it
        #: The lines before the first ``FUNCTRACE_MAX_LINES`` cut marker; 0: none.
        self.cut_after = 0

    def feed(self, line: str, number: int) -> None:
        source = self.source
        if source == "text":
            groups = self._groups.get(line, _MISSING)
            if groups is _MISSING:
                if line.startswith("# ") and (
                    NAME_RE.match(line) or PROCESS_RE.match(line) or JOB_RE.match(line)
                ):
                    m = None  # a naming line is no event, whatever its name holds
                else:
                    m = LINE_RE.match(line) or LINE_AT_END_RE.search(line)
                groups = None if m is None else m.groups()
                if len(self._groups) >= _CACHE_MAX:
                    self._groups.clear()
                self._groups[line] = groups
            if groups is not None:
                try:
                    self._text(groups)
                except _Skip as skip:
                    self._problem(skip, number)
                    self.skipped += 1
                return
        elif source is None:
            if _looks_text(line):
                self._decide("text")
                self.feed(line, number)
                return
            if _looks_jsonl(line):
                self._decide("jsonl")
        if line.startswith("# ") and self._naming_line(line):
            return
        try:
            if source == "text":
                if _looks_text(line):
                    raise _Skip("text-line", "a malformed text trace line")
                if _looks_jsonl(line):
                    raise _Skip(
                        "other-format", "a jsonl line in a text trace: only the text lines are read"
                    )
            elif self.source == "jsonl":
                if _looks_jsonl(line):
                    self._jsonl(line)
                    return
                if _looks_text(line):
                    raise _Skip(
                        "other-format",
                        "a text line in a jsonl trace: only the jsonl lines are read",
                    )
        except _Skip as skip:
            self._problem(skip, number)
        if line.strip():
            self.skipped += 1

    def _decide(self, source: str) -> None:
        self.source = source
        if isinstance(self.builder, Stream):
            self.builder.exact = source == "jsonl"
        if self.on_source is not None:
            self.on_source(source)

    def _problem(self, skip: _Skip, number: int) -> None:
        problem = self.problems.get(skip.kind)
        if problem is None:
            self.problems[skip.kind] = Problem(number, skip.reason, kind=skip.kind)
        else:
            problem.count += 1

    def finish(self, end_epoch_ns: int) -> Trace:
        assert isinstance(self.builder, Builder)
        problems = list(self.problems.values())
        if self.source == "jsonl":
            return Trace(
                roots=sorted(self.builder.roots, key=lambda c: c.start_ns),
                source="jsonl",
                exact=True,
                thread_names=self.thread_names,
                thread_ids=self.thread_ids,
                names=self.names,
                origins=self.origins,
                skipped_lines=self.skipped,
                problems=problems,
                cut_after=self.cut_after,
            )
        for root in self.builder.roots:
            fit(root)
        trace = Trace(
            roots=self.builder.roots,
            source="text",
            exact=False,
            names=self.names,
            origins=self.origins,
            skipped_lines=self.skipped,
            problems=problems,
            cut_after=self.cut_after,
        )
        # Never before 1970: exporters write epoch times as unsigned numbers.
        trace.epoch_offset_ns = max(0, end_epoch_ns - trace.end_ns)
        return trace

    def _text(self, groups: tuple[str, str, str, str, str | None]) -> None:
        tag, indent, arrow, name, details = groups
        depth = len(indent) // len(INDENT)
        if arrow == ENTER:
            args = split_args(details) if details and details[0] == "(" else None
            self.builder.enter(tag, depth, name, self.clock, details == "resume", args=args)
            return
        head, value = split_value(details or "")
        words = head.split()
        if not words:
            raise _Skip("no-duration", f"exit of {name} has no duration (a torn last line?)")
        duration = self._durations.get(words[0])
        if duration is None:
            duration = self._duration(name, words[0])
            if len(self._durations) >= _CACHE_MAX:
                self._durations.clear()
            self._durations[words[0]] = duration
        # The call ends by clock + duration at the latest (it started by now):
        # refusing more keeps the whole rebuilt timeline within range.
        if self.clock + duration > _TEXT_SPAN_MAX:
            raise _Skip(
                "duration-range", f"exit of {name}: duration {_show(words[0])} is out of range"
            )
        exception = suspended = None
        for word in words[1:]:
            if word.startswith("!"):
                exception = word[1:]
            elif word in _SUSPEND_WORDS:
                suspended = word
        call = self.builder.exit(
            tag, depth, name, None, duration, exception, suspended, now=self.clock, value=value
        )
        end = call.end_ns
        if end is not None and end > self.clock:
            self.clock = end

    @staticmethod
    def _duration(name: str, word: str) -> int:
        try:
            duration = parse_duration(word)
        except ValueError:  # "1.2.3s" matches the pattern, not float()
            duration = None
        except OverflowError:  # more nines than a float holds
            duration = _TEXT_SPAN_MAX + 1
        if duration is None:
            raise _Skip("bad-duration", f"exit of {name}: {_show(word)} is not a duration")
        return duration

    def _jsonl(self, line: str) -> None:
        m = _JSONL_RE.match(line)
        if m is not None and self._jsonl_fast(m):
            return
        try:
            event = json.loads(line)
        except ValueError:
            raise _Skip("json", "not valid JSON (a torn last line?)") from None
        except RecursionError:  # json nests "[[[[..." as deep as the line is long
            raise _Skip("json", "JSON nested too deeply") from None
        if not isinstance(event, dict) or event.get("ev") not in _KINDS:
            if isinstance(event, dict) and event.get("ev") in _NAMING:
                self._naming_event(event)
                return
            raise _Skip("not-event", 'not a functrace event (no known "ev")')
        for key in ("ts", "depth", "tag", "name"):
            if key not in event:
                raise _Skip(f"missing:{key}", f'no "{key}" field')
        ts = _int(event, "ts")
        depth = _int(event, "depth")
        tag = _str(event, "tag")
        name = _str(event, "name")
        pid, tid, lineno = _int(event, "pid"), _int(event, "tid"), _int(event, "line")
        file, thread = _str(event, "file"), _str(event, "thread")
        kind = event["ev"]
        if kind in ("enter", "resume"):
            self._thread(tag, thread, pid, tid)
            args = event.get("args")
            if args is not None and not (
                isinstance(args, dict) and all(isinstance(v, str) for v in args.values())
            ):
                raise _Skip("field:args", f'"args" is {_show(args)}, not names and texts')
            self.builder.enter(tag, depth, name, ts, kind == "resume", file, lineno, args=args)
            return
        dur = _int(event, "dur")
        if dur > ts:
            raise _Skip("dur", f'"dur" {dur} is longer than "ts" {ts}')
        exc, suspended = _opt_str(event, "exc"), _opt_str(event, "suspended")
        value = _opt_str(event, "return")
        self._thread(tag, thread, pid, tid)
        self.builder.exit(tag, depth, name, ts, dur, exc, suspended, file, lineno, value=value)

    def _jsonl_fast(self, m: re.Match[str]) -> bool:
        """A line laid out as functrace writes it; False sends it to the JSON parser,
        which also says what is wrong with it."""
        ts, pid, tid, thread, tag, depth, kind, name, file, lineno, dur, exc, susp = m.groups()
        if max(len(ts), len(pid), len(tid), len(depth), len(lineno)) > 18 and (
            max(int(ts), int(pid), int(tid), int(depth), int(lineno)) > _INT_MAX
        ):
            return False  # the JSON parser's path says what is out of range
        if kind in ("enter", "resume"):
            if dur is not None:
                return False
            self._thread(tag, thread, int(pid), int(tid))
            self.builder.enter(tag, int(depth), name, int(ts), kind == "resume", file, int(lineno))
            return True
        if dur is None or int(dur) > int(ts):
            return False
        self._thread(tag, thread, int(pid), int(tid))
        self.builder.exit(tag, int(depth), name, int(ts), int(dur), exc, susp, file, int(lineno))
        return True

    def _naming_line(self, line: str) -> bool:
        """A text comment line naming a thread or task (its name and origin kept), a
        process, or saying who started a job."""
        line = line.rstrip("\r\n")
        m = NAME_RE.match(line)
        if m is None:
            job = JOB_RE.match(line)
            if job is not None:
                self._due(job["tag"], Origin(job["origin_tag"], job["origin"], "job"), self.clock)
                return True
            cut = CUT_RE.match(line)
            if cut is not None:
                if not self.cut_after:
                    self.cut_after = int(cut[1])
                return True
            return PROCESS_RE.match(line) is not None
        try:
            name = json.loads(m["name"])
        except ValueError:  # "\x" matches the pattern, not JSON
            return False
        self.names[m["tag"]] = name
        if m["origin_tag"] is not None:
            self._origin(m["tag"], Origin(m["origin_tag"], m["origin"], m["kind"]), self.clock)
        return True

    def _origin(self, tag: str, origin: Origin, t: int) -> None:
        """A thread's or task's origin: its first outermost call's (a tag named again,
        in a new output or after a rename, is not started again)."""
        if tag not in self.origins:
            self.origins[tag] = origin
            self._due(tag, origin, t)

    def _due(self, tag: str, origin: Origin, t: int) -> None:
        self.due[tag] = origin
        if self.on_origin is not None:
            self.on_origin(tag, origin, t)

    def _naming_event(self, event: dict[str, Any]) -> None:
        """A jsonl "process", "thread", "task" or "job" event: a thread's or task's
        name kept, and the origins."""
        kind = event["ev"]
        tag, name = event.get("tag"), event.get("name")
        origin_tag, origin = event.get("origin_tag"), event.get("origin")
        if not isinstance(tag, str):
            return
        ts = event.get("ts")
        t = ts if type(ts) is int and 0 <= ts <= _INT_MAX else 0
        said = None
        if isinstance(origin_tag, str) and isinstance(origin, str):
            said = Origin(origin_tag, origin, kind)
        if kind == "job":
            if said is not None:
                self._due(tag, said, t)
            return
        if kind != "process" and isinstance(name, str):
            self.names[tag] = name
            if said is not None:
                self._origin(tag, said, t)

    def _thread(self, tag: str, thread: str, pid: int, tid: int) -> None:
        if tag not in self.thread_names:
            self.thread_names[tag] = thread
            self.thread_ids[tag] = (pid, tid)


def _int(event: dict[str, Any], key: str) -> int:
    value = event.get(key, 0)
    if type(value) is not int or not 0 <= value <= _INT_MAX:  # bool is an int: not here
        raise _Skip(
            f"field:{key}", f'"{key}" is {_show(value)}, not a whole number from 0 to 2**63-1'
        )
    return value


def _str(event: dict[str, Any], key: str) -> str:
    value = event.get(key, "")
    if not isinstance(value, str):
        raise _Skip(f"field:{key}", f'"{key}" is {_show(value)}, not a string')
    return value


def _opt_str(event: dict[str, Any], key: str) -> str | None:
    return None if event.get(key) is None else _str(event, key)
