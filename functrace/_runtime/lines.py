"""The line format, the contract users grep and tools parse.

``<tag>:<indent><arrow><name>[ <details>]``, for example::

    t[01]a[03]:        <-app.db.fetch 1.52ms !TimeoutError

Comment lines start with ``# `` and are never trace events. Three kinds name
what the tags stand for, each written before the first line it explains::

    # process 4711 = "python app.py --port 8080" (parent 4700)
    # t[02] = thread "worker-1" (native id 4712)
    # t[01]a[03] = task "fetch-users"

A thread or task renamed later gets a new one. Names are JSON strings (quotes
and control characters escaped), so a line never splits. A thread or task
started while a traced call ran says so at the end of its naming line, and a
``concurrent.futures`` job (``asyncio.to_thread`` included) gets a line of its
own before its first line::

    # t[02] = thread "worker-1" (native id 4712) started by t[01] in app.main
    # t[03] job started by t[01]a[01] in app.fetch_all

With ``FUNCTRACE_ARGS``, an enter line carries the arguments right after the name,
in parentheses, to the end of the line; an exit line ends with `` => `` and a
value, to the end of the line::

    t[01]:    ->app.db.query(sql='SELECT …', limit=10)
    t[01]:    <-app.db.query 1.52ms => [3, 4, 5]
    t[01]:    <-app.db.fetch 2.10ms !KeyError => 'user'

A name never holds ``(`` or a space, the words before `` => `` never hold it, and
a value is one line: so the line splits without looking into the values.
:func:`split_args` cuts the parentheses into ``name -> text``.

Kept free of state so that readers of trace files can import it too.
"""

from __future__ import annotations

import re

__all__ = [
    "ENTER",
    "EXIT",
    "INDENT",
    "JOB_RE",
    "LINE_AT_END_RE",
    "LINE_RE",
    "LOST",
    "NAME_RE",
    "PROCESS_RE",
    "VALUE_SEP",
    "format_duration",
    "format_duration_fast",
    "job_line",
    "name_line",
    "origin_text",
    "parse_duration",
    "process_line",
    "split_args",
    "split_value",
    "task_tag",
    "thread_tag",
]

ENTER = "->"
EXIT = "<-"
INDENT = "    "
#: The last word of an exit line whose call's real end was never seen (the events
#: were missed): the duration runs to when that became known. jsonl: "lost": true.
LOST = "lost"
#: Between an exit line's words and its value (FUNCTRACE_ARGS).
VALUE_SEP = " => "

_LINE = (
    r"(?P<tag>t\[[0-9.]+\](?:a\[[0-9]+\])?):"
    r"(?P<indent>(?:    )+)(?P<arrow>->|<-)(?P<name>[^\s(]+)(?:(?: |(?=\())(?P<details>.*))?$"
)
#: Matches one text line; groups: tag, indent, arrow, name, details (or None: the
#: words after the name; on an enter line with arguments, ``(...)`` itself).
LINE_RE = re.compile("^" + _LINE)
#: A trace line at the end of a line that starts with something else: the program's
#: own unfinished text on a shared stderr (a progress bar) that the line joined.
LINE_AT_END_RE = re.compile(r"(?<![\w\[.])" + _LINE)


_TAG = r"t\[[0-9.]+\](?:a\[[0-9]+\])?"
#: `` started by <tag> in <name>``: the traced call that started a thread, task or job.
_ORIGIN = rf" started by (?P<origin_tag>{_TAG}) in (?P<origin>\S+)"
#: ``# <tag> = thread "<name>" (native id N)`` / ``# <tag> = task "<name>"``, each
#: perhaps followed by `` started by <tag> in <name>``; groups: tag, kind, name (a
#: JSON string), native, origin_tag, origin (None where absent).
NAME_RE = re.compile(
    rf"^# (?P<tag>{_TAG}) = (?P<kind>thread|task) "
    r'(?P<name>"(?:[^"\\]|\\.)*")(?: \(native id (?P<native>[0-9]+)\))?'
    rf"(?:{_ORIGIN})?$"
)
#: ``# <tag> job started by <tag> in <name>``: the next outermost call of ``tag`` is
#: a job handed to a thread pool by that call; groups: tag, origin_tag, origin.
JOB_RE = re.compile(rf"^# (?P<tag>{_TAG}) job{_ORIGIN}$")
#: ``# process <pid> = "<command line>" (parent <ppid>)``; groups: pid, command, ppid.
PROCESS_RE = re.compile(
    r'^# process (?P<pid>[0-9]+) = (?P<command>"(?:[^"\\]|\\.)*") \(parent (?P<ppid>[0-9]+)\)$'
)


def origin_text(origin_tag: str, origin_name: str) -> str:
    return f" started by {origin_tag} in {origin_name}"


def name_line(
    tag: str, kind: str, quoted_name: str, native_id: int | None = None, origin: str = ""
) -> str:
    """The comment line naming ``tag`` (``quoted_name``: already a JSON string;
    ``origin``: :func:`origin_text`, or "")."""
    native = "" if native_id is None else f" (native id {native_id})"
    return f"# {tag} = {kind} {quoted_name}{native}{origin}\n"


def job_line(tag: str, origin_tag: str, origin_name: str) -> str:
    """The comment line before the first line of a thread-pool job run by ``tag``."""
    return f"# {tag} job{origin_text(origin_tag, origin_name)}\n"


def process_line(pid: int, quoted_command: str, ppid: int) -> str:
    return f"# process {pid} = {quoted_command} (parent {ppid})\n"


def thread_tag(number: int, pid: int | None = None) -> str:
    """``t[01]``; ``t[4711.01]`` when the process is not the first of its trace."""
    return f"t[{number:02d}]" if pid is None else f"t[{pid}.{number:02d}]"


def task_tag(thread: str, number: int) -> str:
    return f"{thread}a[{number:02d}]"


def format_duration(ns: int) -> str:
    """Three significant figures, cut (not rounded), in the largest fitting unit:
    850ns, 12.3µs, 4.56ms, 2.00s. Integer arithmetic only: this runs per call."""
    if ns < 1_000:
        return f"{ns}ns"
    for scale, unit in ((1_000, "µs"), (1_000_000, "ms"), (1_000_000_000, "s")):
        if ns < scale * 1_000 or unit == "s":
            if ns < scale * 10:
                whole, frac = divmod(ns * 100 // scale, 100)
                return f"{whole}.{frac:02d}{unit}"
            if ns < scale * 100:
                whole, frac = divmod(ns * 10 // scale, 10)
                return f"{whole}.{frac}{unit}"
            return f"{ns // scale}{unit}"
    raise AssertionError("unreachable")


#: Durations from 1µs to 10µs (the common case), by (ns - 1000) // 10: filled
#: once, when tracing starts, so no string is created for them while calls run.
_SMALL: list[str] = []


#: The Python fast path's ends of exit lines (the duration and the line's end,
#: UTF-8) for every duration under 100µs, most calls': ``_SMALL_LINES[i]`` for
#: ``i`` = ns under 1µs, ``900 + ns // 10`` under 10µs, ``1_800 + ns // 100``
#: under 100µs (the figures shown change no finer). Filled with ``_SMALL``.
_SMALL_LINES: list[bytes] = []


def warm_duration_cache() -> None:
    if not _SMALL:
        _SMALL.extend(format_duration(ns) for ns in range(1_000, 10_000, 10))
    if not _SMALL_LINES:
        every = (*range(1_000), *range(1_000, 10_000, 10), *range(10_000, 100_000, 100))
        _SMALL_LINES.extend([f"{format_duration(ns)}\n".encode() for ns in every])  # at once


def format_duration_fast(ns: int) -> str:
    """:func:`format_duration`, looked up for durations from 1µs to 10µs."""
    if 1_000 <= ns < 10_000 and _SMALL:
        return _SMALL[(ns - 1_000) // 10]
    return format_duration(ns)


_DURATION_RE = re.compile(r"^([0-9.]+)(ns|µs|us|ms|s)$")
_SCALE = {"ns": 1, "µs": 1_000, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def parse_duration(text: str) -> int | None:
    """The inverse of :func:`format_duration` (to its precision); None if not a duration."""
    m = _DURATION_RE.match(text)
    if m is None:
        return None
    return round(float(m.group(1)) * _SCALE[m.group(2)])


def split_value(details: str) -> tuple[str, str | None]:
    """An exit line's details cut into its words and its value (None without one)."""
    words, sep, value = details.partition(VALUE_SEP)
    return words, (value if sep else None)


_CLOSING = {"(": ")", "[": "]", "{": "}", "<": ">"}


def split_args(details: str) -> dict[str, str] | None:
    """``(a=1, b='x, y')`` -> ``{"a": "1", "b": "'x, y'"}``: cut at the commas
    outside quotes and brackets (functrace's values keep them balanced, a cut
    one too); None if ``details`` is no argument list. A trailing ``…`` (the
    line's length was reached) is no argument."""
    if len(details) < 2 or details[0] != "(" or details[-1] != ")":
        return None
    body = details[1:-1]
    parts: list[str] = []
    start = 0
    closing: list[str] = []
    quote = ""
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in _CLOSING:
            closing.append(_CLOSING[c])
        elif closing and c == closing[-1]:
            closing.pop()
        elif c == "," and not closing and body.startswith(", ", i):
            parts.append(body[start:i])
            start = i + 2
            i += 1
        i += 1
    if body:
        parts.append(body[start:])
    args: dict[str, str] = {}
    for part in parts:
        name, sep, text = part.partition("=")
        if sep and name.isidentifier():
            args[name] = text
        elif part != "…":
            return None
    return args
