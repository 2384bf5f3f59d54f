"""``FUNCTRACE*`` environment variables, parsed once into one frozen object.

A bad value never stops the traced program: it warns once and takes the default.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping

from functrace._runtime.notices import notice

__all__ = ["FORMATS", "VARIABLES", "Settings", "checked", "parse_duration_ns", "settings_from_env"]

_ON = frozenset({"", "1", "on", "true", "yes"})
_OFF = frozenset({"0", "off", "false", "no"})
#: The line formats, the one list: the environment, configure() and the CLI take these.
FORMATS = ("text", "jsonl")
_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


@dataclasses.dataclass(frozen=True)
class Settings:
    enabled: bool = True
    # "stderr", "stdout", "none", or a file path (may contain "{pid}").
    output: str = "stderr"
    format: str = "text"
    # Lines deeper than this are not written (0: no limit); calls still nest.
    max_depth: int = 0
    # Exit lines of calls shorter than this are not written, nor their enters.
    min_duration_ns: int = 0
    # A listener for every traced call, by name: an entry point of the group
    # "functrace.exporters" ("otel": OpenTelemetry spans).
    exporter: str = ""
    # Use the compiled fast path when it is built (FUNCTRACE_SPEEDUPS=0: pure Python).
    speedups: bool = True
    # Globs over "module.qualname": only matching functions are traced (empty: all),
    # and never those matching an exclude. Decided once, when a function is decorated.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # At most this many lines per output (0: no limit): disk stays bounded.
    max_lines: int = 0
    # Write to an output path whose last component is a symbolic link (off: refused,
    # so a link planted in a shared directory cannot aim the trace at another file).
    follow_symlinks: bool = False
    # Arguments on enter lines, return values on exit lines: "" (off), "safe" (no
    # code of the program runs) or "repr" (repr() of what is not a builtin).
    args: str = ""
    # The longest text of one value, and of all the arguments of one line.
    args_length: int = 100
    args_line_length: int = 1000
    # Globs over parameter names written as *** (besides values.REDACTED_WORDS).
    redact: tuple[str, ...] = ()


def _warn(name: str, value: str, default: object) -> None:
    notice(f"functrace: ignoring {name}={value!r} ({_HELP[name]}); using {default!r}")


_HELP = {
    "FUNCTRACE": "expected 1/on/true/yes or 0/off/false/no",
    "FUNCTRACE_OUTPUT": "expected stderr, stdout, none or a file path",
    "FUNCTRACE_FORMAT": "expected text or jsonl",
    "FUNCTRACE_MAX_DEPTH": "expected a whole number >= 0",
    "FUNCTRACE_MIN_DURATION": "expected a duration such as 500us, 2ms or 0",
    "FUNCTRACE_EXPORTER": "expected an exporter's name, such as otel",
    "FUNCTRACE_MAX_LINES": "expected a whole number >= 0",
    "FUNCTRACE_SPEEDUPS": "expected 1/on/true/yes or 0/off/false/no",
    "FUNCTRACE_FOLLOW_SYMLINKS": "expected 1/on/true/yes or 0/off/false/no",
    "FUNCTRACE_ARGS": "expected 0/off, 1/on/safe or repr",
    "FUNCTRACE_ARGS_LENGTH": "expected a whole number >= 8",
    "FUNCTRACE_ARGS_LINE_LENGTH": "expected a whole number >= 16",
}


def _globs(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.replace(";", ",").split(",") if p.strip())


def parse_duration_ns(text: str) -> int:
    """``"1.5ms"`` -> 1500000. Raises ValueError on anything else."""
    text = text.strip().lower()
    for unit in sorted(_UNITS_NS, key=len, reverse=True):
        if text.endswith(unit):
            number = float(text[: -len(unit)])
            break
    else:
        number, unit = float(text), "s"
        if number != 0:
            raise ValueError(f"duration {text!r} needs a unit (ns, us, ms, s)")
    if number < 0 or number != number:
        raise ValueError(f"duration {text!r} must be >= 0")
    return round(number * _UNITS_NS[unit])


def _switch(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _OFF:
        return False
    if word in _ON:
        return True
    raise ValueError(raw)


def _whole(raw: str) -> int:
    number = int(raw.replace("_", ""))
    if number < 0:
        raise ValueError(raw)
    return number


#: Paths that name a stream of this process: written as the stream itself (they
#: are symbolic links into /proc, which an output path may not be).
_STREAM_PATHS = {"/dev/stderr": "stderr", "/dev/stdout": "stdout", "/dev/fd/2": "stderr"}


def _args(raw: str) -> str:
    word = raw.strip().lower()
    if word in ("safe", "repr"):
        return word
    return "safe" if _switch(raw) and word else ""


def _at_least(low: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        number = _whole(raw)
        if number < low:
            raise ValueError(raw)
        return number

    return parse


def _path_or_stream(raw: str) -> str:
    if not raw.strip():
        raise ValueError(raw)
    return _STREAM_PATHS.get(raw.strip(), raw.strip())


def _format(raw: str) -> str:
    word = raw.strip().lower()
    if word not in FORMATS:
        raise ValueError(raw)
    return word


def _exporter(raw: str) -> str:
    # Any exporter's name: which ones exist is known only once one is asked for
    # (the "functrace.exporters" entry points), when tracing starts.
    word = raw.strip().lower()
    if word and not word.replace("-", "_").replace(".", "_").isidentifier():
        raise ValueError(raw)
    return word


#: variable -> (Settings field, parser raising ValueError on a bad value): the one
#: parser of each setting, for the environment and configure() alike.
VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "FUNCTRACE": ("enabled", _switch),
    "FUNCTRACE_OUTPUT": ("output", _path_or_stream),
    "FUNCTRACE_FORMAT": ("format", _format),
    "FUNCTRACE_MAX_DEPTH": ("max_depth", _whole),
    "FUNCTRACE_MAX_LINES": ("max_lines", _whole),
    "FUNCTRACE_MIN_DURATION": ("min_duration_ns", parse_duration_ns),
    "FUNCTRACE_EXPORTER": ("exporter", _exporter),
    "FUNCTRACE_INCLUDE": ("include", _globs),
    "FUNCTRACE_EXCLUDE": ("exclude", _globs),
    "FUNCTRACE_SPEEDUPS": ("speedups", _switch),
    "FUNCTRACE_FOLLOW_SYMLINKS": ("follow_symlinks", _switch),
    "FUNCTRACE_ARGS": ("args", _args),
    "FUNCTRACE_ARGS_LENGTH": ("args_length", _at_least(8)),
    "FUNCTRACE_ARGS_LINE_LENGTH": ("args_line_length", _at_least(16)),
    "FUNCTRACE_REDACT": ("redact", _globs),
}


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    default = Settings()
    values: dict[str, object] = {}
    for name, (field, parse) in VARIABLES.items():
        raw = env.get(name)
        if raw is None:
            continue
        try:
            values[field] = parse(raw)
        except ValueError:
            fallback = getattr(default, field)
            if isinstance(fallback, bool):
                fallback = "on" if fallback else "off"
            _warn(name, raw, fallback or "none")
    return dataclasses.replace(default, **values)  # type: ignore[arg-type]


_FIELDS = {field: (name, parse) for name, (field, parse) in VARIABLES.items()}
_HELP_FIELD = {
    "include": "expected glob patterns",
    "exclude": "expected glob patterns",
    "min_duration_ns": "expected nanoseconds >= 0 or a duration such as 500us",
    "args": "expected True/False, 'safe' or 'repr'",
    "redact": "expected glob patterns",
}


def checked(field: str, value: object) -> object:
    """A value given to ``configure(field=value)``, checked as the environment
    variable's text is, and made the same: a string is parsed exactly as the
    variable would be. ValueError (naming the field and what it takes) when it
    is not valid; TypeError for a field that does not exist."""
    if field not in _FIELDS:
        raise TypeError(f"functrace.configure() got an unknown setting {field!r}")
    name, parse = _FIELDS[field]
    default = getattr(Settings, field)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)  # output=Path("trace.log")
    result: object = _INVALID
    if isinstance(value, str):
        try:
            result = parse(value)
        except ValueError:
            pass
    elif field == "args" and isinstance(value, bool):
        result = "safe" if value else ""
    elif field in ("args_length", "args_line_length") and type(value) is int:
        try:
            result = parse(str(value))
        except ValueError:
            pass
    elif isinstance(default, bool):
        if isinstance(value, bool):
            result = value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            result = value
    elif (
        isinstance(default, tuple)
        and isinstance(value, (tuple, list))
        and all(isinstance(v, str) for v in value)
    ):
        result = _globs(",".join(value))
    if result is _INVALID:
        help_ = _HELP_FIELD.get(field) or _HELP[name]
        raise ValueError(f"functrace.configure({field}={value!r}): {help_} (like {name})")
    return result


_INVALID = object()
