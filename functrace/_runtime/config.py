"""``FUNCTRACE*`` environment variables, parsed once into one frozen object.

A bad value never stops the traced program: it warns once and takes the default.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping

__all__ = ["Settings", "parse_duration_ns", "settings_from_env"]

_ON = frozenset({"", "1", "on", "true", "yes"})
_OFF = frozenset({"0", "off", "false", "no"})
_FORMATS = ("text", "jsonl")
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
    # "otel": every traced call also becomes an OpenTelemetry span.
    exporter: str = ""
    # Use the compiled fast path when it is built (FUNCTRACE_SPEEDUPS=0: pure Python).
    speedups: bool = True
    # Globs over "module.qualname": only matching functions are traced (empty: all),
    # and never those matching an exclude. Decided once, when a function is decorated.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # At most this many lines per output (0: no limit): disk stays bounded.
    max_lines: int = 0


def _warn(name: str, value: str, default: object) -> None:
    warnings.warn(
        f"functrace: ignoring {name}={value!r} ({_HELP[name]}); using {default!r}",
        RuntimeWarning,
        stacklevel=3,
    )


_HELP = {
    "FUNCTRACE": "expected 1/on/true/yes or 0/off/false/no",
    "FUNCTRACE_OUTPUT": "expected stderr, stdout, none or a file path",
    "FUNCTRACE_FORMAT": "expected text or jsonl",
    "FUNCTRACE_MAX_DEPTH": "expected a whole number >= 0",
    "FUNCTRACE_MIN_DURATION": "expected a duration such as 500us, 2ms or 0",
    "FUNCTRACE_EXPORTER": "expected otel",
    "FUNCTRACE_MAX_LINES": "expected a whole number >= 0",
    "FUNCTRACE_SPEEDUPS": "expected 1/on/true/yes or 0/off/false/no",
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


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    default = Settings()
    values: dict[str, object] = {}

    raw = env.get("FUNCTRACE")
    if raw is not None:
        word = raw.strip().lower()
        if word in _OFF:
            values["enabled"] = False
        elif word not in _ON:
            _warn("FUNCTRACE", raw, "on")

    raw = env.get("FUNCTRACE_OUTPUT")
    if raw is not None:
        if raw.strip():
            values["output"] = raw.strip()
        else:
            _warn("FUNCTRACE_OUTPUT", raw, default.output)

    raw = env.get("FUNCTRACE_FORMAT")
    if raw is not None:
        if raw.strip().lower() in _FORMATS:
            values["format"] = raw.strip().lower()
        else:
            _warn("FUNCTRACE_FORMAT", raw, default.format)

    raw = env.get("FUNCTRACE_MAX_DEPTH")
    if raw is not None:
        try:
            depth = int(raw)
            if depth < 0:
                raise ValueError
            values["max_depth"] = depth
        except ValueError:
            _warn("FUNCTRACE_MAX_DEPTH", raw, default.max_depth)

    raw = env.get("FUNCTRACE_MAX_LINES")
    if raw is not None:
        try:
            lines = int(raw.replace("_", ""))
            if lines < 0:
                raise ValueError
            values["max_lines"] = lines
        except ValueError:
            _warn("FUNCTRACE_MAX_LINES", raw, default.max_lines)

    raw = env.get("FUNCTRACE_MIN_DURATION")
    if raw is not None:
        try:
            values["min_duration_ns"] = parse_duration_ns(raw)
        except ValueError:
            _warn("FUNCTRACE_MIN_DURATION", raw, "0")

    raw = env.get("FUNCTRACE_EXPORTER")
    if raw is not None and raw.strip():
        if raw.strip().lower() == "otel":
            values["exporter"] = "otel"
        else:
            _warn("FUNCTRACE_EXPORTER", raw, "none")

    for name in ("include", "exclude"):
        raw = env.get(f"FUNCTRACE_{name.upper()}")
        if raw is not None:
            values[name] = _globs(raw)

    raw = env.get("FUNCTRACE_SPEEDUPS")
    if raw is not None:
        word = raw.strip().lower()
        if word in _OFF:
            values["speedups"] = False
        elif word not in _ON:
            _warn("FUNCTRACE_SPEEDUPS", raw, "on")

    return dataclasses.replace(default, **values)  # type: ignore[arg-type]
