"""The sink, Python side: the only Python code that knows a line's text.

The text and jsonl writers of the Python event path (the compiled module writes
the same bytes, compared byte for byte by the tests), the ``running`` lines a new
output starts with, and ``put``, which queues one whole line on the output's
buffer. The grammar of the lines is :mod:`functrace._runtime.lines`'s, shared with
the readers.
"""

from __future__ import annotations

import os
import shlex  # at import: an import inside an event can deadlock a forked child
import sys
import time
from collections.abc import Callable
from json.encoder import encode_basestring as _json_quoted  # C: never traced; keeps Unicode
from json.encoder import encode_basestring_ascii as _json_str

from functrace._runtime import output
from functrace._runtime.lines import (
    ENTER,
    LOST,
    format_duration_fast,
    name_line,
    origin_text,
    process_line,
)
from functrace._runtime.lines import job_line as job_text
from functrace._runtime.record import Origin
from functrace._runtime.state import CodeInfo, Context
from functrace._runtime.values import args_text

__all__ = [
    "MAX_BUFFERED",
    "WRITERS",
    "job_line",
    "naming_line",
    "process_naming_line",
    "put",
    "running_line",
]

#: Characters str.splitlines() breaks a line at, besides the ones JSON escapes.
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def _quoted(text: str) -> str:
    """``text`` as a JSON string that no line splitter cuts (names are the
    program's: a thread may be called anything)."""
    return _json_quoted(text).translate(_LINE_BREAKS)


#: Queue one whole line. With the compiled path loaded, its ``put``: behind one of
#: its chunks the line joins that chunk (a str item between its lines would make it
#: start a fresh chunk each time), in one step that no flush or signal handler can
#: split. Without it, ``list.append``, which is atomic too. (The engine sets it.)
put: Callable[[str], None] = output.buffer.append


def text_enter(
    ctx: Context,
    depth: int,
    info: CodeInfo,
    t: int,
    resumed: bool,
    args: list[tuple[str, str]] | None = None,
) -> None:
    if args is not None:  # FUNCTRACE_ARGS: "->name(a=1, b='x')"
        put(f"{ctx.prefix(depth)}{ENTER}{info.name}{args_text(args)}\n")
        return
    put(ctx.prefix(depth) + (info.resume_text if resumed else info.enter_text))


def text_exit(
    ctx: Context,
    depth: int,
    info: CodeInfo,
    t: int,
    duration: int,
    exception: str | None,
    suspended: str | None,
    value: str | None = None,
) -> None:
    details = format_duration_fast(duration)
    if exception is not None:
        details += " !" + exception
    elif suspended is not None:
        details += " " + suspended
    if value is not None:  # FUNCTRACE_ARGS: last, to the end of the line
        details += " => " + value
    put(f"{ctx.prefix(depth)}{info.exit_text}{details}\n")


epoch_offset_ns = time.time_ns() - time.perf_counter_ns()
#: Lines the Python paths let wait before writing, besides the time limit: memory
#: stays at a few hundred KiB however many calls a burst makes (the compiled path
#: bounds its own chunks).
MAX_BUFFERED = 1_000


#: How jsonl quotes a text (the compiled path quotes an exception's name with it).
json_quote: Callable[[str], str] = _json_str


def json_enter(
    ctx: Context,
    depth: int,
    info: CodeInfo,
    t: int,
    resumed: bool,
    args: list[tuple[str, str]] | None = None,
) -> None:
    kind = "resume" if resumed else "enter"
    extra = ""
    if args is not None:
        extra = ',"args":{' + ",".join(f"{_json_str(n)}:{_json_str(v)}" for n, v in args) + "}"
    put(
        f'{{"v":1,"ts":{epoch_offset_ns + t},{ctx.json_head},"depth":{depth},'
        f'"ev":"{kind}",{info.json_head}{extra}}}\n'
    )


def json_exit(
    ctx: Context,
    depth: int,
    info: CodeInfo,
    t: int,
    duration: int,
    exception: str | None,
    suspended: str | None,
    value: str | None = None,
) -> None:
    kind = "exit" if suspended is None or suspended is LOST else "suspend"
    exc = "null" if exception is None else _json_str(exception)
    if suspended is LOST:
        susp = 'null,"lost":true'
    else:
        susp = "null" if suspended is None else f'"{suspended}"'
    ret = "" if value is None else ',"return":' + _json_str(value)
    put(
        f'{{"v":1,"ts":{epoch_offset_ns + t},{ctx.json_head},"depth":{depth},'
        f'"ev":"{kind}",{info.json_head},"dur":{duration},"exc":{exc},"suspended":{susp}'
        f"{ret}}}\n"
    )


EnterWriter = Callable[[Context, int, CodeInfo, int, bool, "list[tuple[str, str]] | None"], None]
ExitWriter = Callable[
    [Context, int, CodeInfo, int, int, "str | None", "str | None", "str | None"], None
]

#: format -> (enter writer, exit writer)
WRITERS: dict[str, tuple[EnterWriter, ExitWriter]] = {
    "text": (text_enter, text_exit),
    "jsonl": (json_enter, json_exit),
}


def running_line(ctx: Context, depth: int, info: CodeInfo, start: int, text: bool) -> str:
    """The line a new output starts with for a call already running (since ``start``)."""
    if text:
        return f"{ctx.prefix(depth)}{ENTER}{info.name} running\n"
    return (
        f'{{"v":1,"ts":{epoch_offset_ns + start},{ctx.json_head},'
        f'"depth":{depth},"ev":"enter","running":true,{info.json_head}}}\n'
    )


def naming_line(ctx: Context, name: str, text: bool, t: int) -> str:
    """The line that says what ``ctx``'s tag stands for: the thread (with its native
    id) or the asyncio task, by name."""
    kind = "thread" if ctx.base is None else "task"
    native = ctx.native_id if ctx.base is None else None
    origin = ctx.origin
    if text:
        said = "" if origin is None else origin_text(origin.tag, origin.name)
        return name_line(ctx.tag, kind, _quoted(name), native, said)
    extra = "" if native is None else f',"native_id":{native}'
    if origin is not None:
        extra += _json_origin(origin)
    return (
        f'{{"v":1,"ts":{epoch_offset_ns + t},"ev":"{kind}","pid":{os.getpid()},'
        f'"tag":"{ctx.tag}","name":{_json_str(name)}{extra}}}\n'
    )


def _json_origin(origin: Origin) -> str:
    return f',"origin_tag":"{origin.tag}","origin":{_json_str(origin.name)}'


def job_line(ctx: Context, origin: Origin, text: bool, t: int) -> str:
    """The line before the first line of a thread-pool job: who submitted it."""
    if text:
        return job_text(ctx.tag, origin.tag, origin.name)
    return (
        f'{{"v":1,"ts":{epoch_offset_ns + t},"ev":"job","pid":{os.getpid()},'
        f'"tag":"{ctx.tag}"{_json_origin(origin)}}}\n'
    )


def process_naming_line(text: bool, t: int) -> str:
    """The first line of a process in an output: its pid, command line and parent."""
    argv = list(getattr(sys, "orig_argv", None) or sys.argv)
    if text:
        return process_line(os.getpid(), _quoted(shlex.join(argv)), os.getppid())
    return (
        f'{{"v":1,"ts":{epoch_offset_ns + t},"ev":"process","pid":{os.getpid()},'
        f'"ppid":{os.getppid()},"argv":[{",".join(_json_str(a) for a in argv)}]}}\n'
    )
