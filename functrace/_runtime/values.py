"""Arguments and return values as text (``FUNCTRACE_ARGS``), bounded and one line.

Two modes:

- ``safe`` (``FUNCTRACE_ARGS=1``) runs none of the program's code. Values of the
  exact builtin types (``type(v) is int``, never ``isinstance``: a subclass may
  have a ``__repr__`` of the program's) are written as Python writes them, cut:
  strings and bytes to the value's length with ``…`` before the closing quote,
  containers after a few items and a few levels (``[1, 2, …]``), a recursive
  container as ``[…]``. Anything else is ``<module.Class>``, with `` len=N`` for
  a subclass of a builtin container (the builtin's own length, never the
  program's ``__len__``).
- ``repr`` (``FUNCTRACE_ARGS=repr``): the same for builtins, ``repr()`` for the
  rest; a ``repr`` that raises or recurses gives ``<module.Class !ValueError>``.

Every text is one line (line breaks and control characters escaped) and at most
``length`` characters; strings, bytes and containers stay well-formed when cut
(quotes closed, brackets balanced), so :func:`functrace._runtime.lines.split_args`
cuts an argument list back into its values. Parameters whose names look like
secrets are written as ``***`` (:data:`REDACTED_WORDS`, ``FUNCTRACE_REDACT``).

Nothing here raises into the event that asked: a failure gives ``<?>``.
"""

from __future__ import annotations

import fnmatch  # at import: an import inside an event can deadlock a forked child
from types import CodeType, FrameType
from typing import Any

from functrace._runtime.state import CodeInfo

__all__ = [
    "ELLIPSIS",
    "REDACTED",
    "REDACTED_WORDS",
    "args_text",
    "arguments",
    "configure",
    "exception_text",
    "frame_finders",
    "given_arguments",
    "limits",
    "mode",
    "value_text",
]

ELLIPSIS = "…"
REDACTED = "***"
#: A parameter whose name contains one of these (any case) is written as ``***``.
REDACTED_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "session",
    "private_key",
    "credential",
)
#: Items shown per container, and levels of containers inside containers.
MAX_ITEMS = 10
MAX_DEPTH = 3

_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08

#: "" (off), "safe" or "repr"; set by configure().
mode = ""
_length = 100
_line_length = 1000
_redact: tuple[str, ...] = ()
#: One more at each configure(): CodeInfo.params made under older settings are redone.
_generation = 0
# Ints and strs of these sizes always fit the value length whole (value_text).
_small_int = 10**99
_short_str = 25


def configure(new_mode: str, length: int, line_length: int, redact: tuple[str, ...]) -> None:
    global mode, _length, _line_length, _redact, _generation
    mode = new_mode
    _length = max(8, length)
    _line_length = max(16, line_length)
    _redact = tuple(glob.lower() for glob in redact)
    _generation += 1
    global _small_int, _short_str
    _small_int = 10 ** (_length - 1)
    _short_str = _length // 4  # repr() of a str is at most 4 times its length + 2


def limits() -> tuple[int, int, int]:
    """(value length, line length, generation): what the compiled path is told."""
    return _length, _line_length, _generation


# ---------------------------------------------------------------- one value

# Every character str.splitlines() breaks at, and the other C0 controls.
_ONE_LINE = str.maketrans(
    {
        **{chr(c): f"\\x{c:02x}" for c in range(32)},
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\x7f": "\\x7f",
        "\x85": "\\x85",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)
_SCALARS = frozenset({float, complex, bool, type(None), type(...)})
_CONTAINERS: dict[type, tuple[str, str]] = {
    list: ("[", "]"),
    tuple: ("(", ")"),
    set: ("{", "}"),
    frozenset: ("frozenset({", "})"),
    dict: ("{", "}"),
}
_SIZED = (str, bytes, bytearray, list, tuple, dict, set, frozenset)
_type_name = type.__dict__["__qualname__"].__get__
_type_module = type.__dict__["__module__"].__get__
_exc_args = BaseException.__dict__["args"].__get__


def _cut(text: str, room: int) -> str:
    return text if len(text) <= room else text[: max(0, room - 1)] + ELLIPSIS


def _quoted(v: str | bytes | bytearray, room: int) -> str:
    """``repr`` of a string or bytes, its content cut so that the whole fits ``room``."""
    piece = v[:room]
    text = repr(piece)
    fits = room if len(piece) == len(v) else room - 1  # a cut one gets "…"
    while len(text) > fits and piece:
        # One character each, or escapes of up to 10: shrink by the excess or the ratio.
        excess = len(text) - fits
        keep = min(len(piece) - 1, max(len(piece) - excess, len(piece) * fits // len(text)))
        piece = piece[: max(0, keep)]
        text = repr(piece)
        fits = room - 1
    if len(piece) < len(v):
        tail = 2 if type(v) is bytearray else 1  # bytearray(b'…') ends in "')"
        text = text[:-tail] + ELLIPSIS + text[-tail:]
    return text


def _int_text(v: int, room: int) -> str:
    bits = v.bit_length()
    if bits > 3 * 4 * room:  # more digits than room (a digit takes > 3.3 bits)
        # str() of a huge int is slow (and refused above 4300 digits on 3.11+).
        return f"<int {bits} bits>"
    return _cut(str(v), room)


def _class_name(v: Any) -> str:
    cls = type(v)
    try:
        name = _type_name(cls)
        module = _type_module(cls)
    except Exception:
        return "?"
    if type(name) is not str:
        name = "?"
    full = name if module == "builtins" or type(module) is not str else f"{module}.{name}"
    # Only name characters (and the <> of <locals>): the text stays one well-formed value.
    return "".join(c if c.isalnum() or c in "._<>" else "?" for c in full)


def _opaque(v: Any, room: int) -> str:
    """``<module.Class>``, `` len=N`` for a builtin container's subclass."""
    cls = type(v)
    extra = ""
    for base in _SIZED:
        if issubclass(cls, base):  # type.__subclasscheck__: the program's code never runs
            extra = f" len={base.__len__(v)}"
            break
    return "<" + _cut(_class_name(v) + extra, room - 2) + ">"  # ">" kept: balanced


def _repr(v: Any, room: int) -> str:
    try:
        text = repr(v)
        if type(text) is not str:
            raise TypeError
    except RecursionError:
        return "<" + _cut(f"{_class_name(v)} !RecursionError", room - 2) + ">"
    except Exception as exc:
        return "<" + _cut(f"{_class_name(v)} !{_class_name(exc)}", room - 2) + ">"
    return _cut(text.translate(_ONE_LINE), room)


def _text(v: Any, room: int, depth: int, seen: set[int], use_repr: bool) -> str:
    cls = type(v)
    if cls is int and -10000 < v < 100000 and room >= 5:
        return str(v)
    if v is _REDACTED_VALUE:
        return REDACTED
    if cls is str or cls is bytes or cls is bytearray:
        return _quoted(v, room)
    if cls is int:
        return _int_text(v, room)
    if cls in _SCALARS:
        return _cut(repr(v), room)
    brackets = _CONTAINERS.get(cls)
    if brackets is None:
        return _repr(v, room) if use_repr else _opaque(v, room)
    opening, closing = brackets
    opening = str(opening)  # (for mypy: v is Any, so is what comes of it)
    if cls is set and not v:
        return "set()"
    if cls is frozenset and not v:
        return "frozenset()"
    if id(v) in seen or depth >= MAX_DEPTH:
        return opening + ELLIPSIS + closing if v else opening + closing
    seen.add(id(v))
    try:
        parts: list[str] = []
        # What is left for the items, ", …" (or a 1-tuple's ",") always kept free.
        left = room - len(opening) - len(closing) - 3
        items = dict.items(v) if cls is dict else v
        for count, item in enumerate(items):
            sep = 2 if parts else 0
            if count == MAX_ITEMS or left - sep < 6:
                parts.append(ELLIPSIS)
                break
            if cls is dict:
                key = _text(item[0], (left - sep) // 2, depth + 1, seen, use_repr)
                rest = left - sep - len(key) - 2
                part = key + ": " + _text(item[1], rest, depth + 1, seen, use_repr)
            else:
                part = _text(item, left - sep, depth + 1, seen, use_repr)
            parts.append(part)
            left -= len(part) + sep
    except RuntimeError:  # another thread changed it meanwhile
        return _opaque(v, room)
    finally:
        seen.discard(id(v))
    inner = ", ".join(parts)
    if cls is tuple and len(parts) == 1 and parts[0] != ELLIPSIS:
        inner += ","
    return f"{opening}{inner}{closing}"


def value_text(v: Any) -> str:
    """``v`` as text in the current mode, at most the value length."""
    cls = type(v)
    # The commonest values first, whole: this runs for every argument of every call.
    if cls is int and -_small_int < v < _small_int:
        return str(v)
    if v is None or cls is bool:
        return "None" if v is None else "True" if v else "False"
    if cls is str and len(v) < _short_str:
        text = repr(v)
        if len(text) <= _length:
            return text
    try:
        return _text(v, _length, 0, set(), mode == "repr")
    except Exception:
        return "<?>"


def exception_text(exc: BaseException) -> str | None:
    """What an exception says: its one argument, or its arguments as a tuple
    (``exc.args`` read as BaseException's: no property of the program's)."""
    try:
        args = _exc_args(exc)
    except Exception:
        return None
    if type(args) is not tuple or not args:
        return None
    return value_text(args[0] if len(args) == 1 else args)


# ---------------------------------------------------------------- arguments

#: id(code of a helper frame) -> function(frame, code) giving the traced call's frame
#: (wrap.py registers its generator driver: there the call's frame is the driven one).
frame_finders: dict[int, Any] = {}


def _parameters(code: CodeType) -> tuple[str, ...]:
    """In the order of the signature: positional, ``*args``, keyword-only, ``**kwargs``
    (``co_varnames`` puts ``*args`` after the keyword-only ones)."""
    names = code.co_varnames
    pos, kw = code.co_argcount, code.co_kwonlyargcount
    varargs = bool(code.co_flags & _CO_VARARGS)
    varkw = bool(code.co_flags & _CO_VARKEYWORDS)
    return (
        names[:pos]
        + names[pos + kw : pos + kw + varargs]
        + names[pos : pos + kw]
        + names[pos + kw + varargs : pos + kw + varargs + varkw]
    )


def _redacted(name: str) -> bool:
    low = name.lower()
    return any(word in low for word in REDACTED_WORDS) or any(
        fnmatch.fnmatchcase(low, glob) for glob in _redact
    )


def _params(info: CodeInfo, code: CodeType) -> tuple[tuple[str, ...], tuple[bool, ...], bool]:
    """(names, redacted?, has **kwargs) of ``code``'s parameters, kept on its info."""
    cached = info.params
    if cached is not None and cached[0] == _generation:
        spec: tuple[tuple[str, ...], tuple[bool, ...], bool] = cached[1]
        return spec
    names = _parameters(code)
    spec = (names, tuple(_redacted(n) for n in names), bool(code.co_flags & _CO_VARKEYWORDS))
    info.params = (_generation, spec)
    return spec


def _call_frame(code: CodeType, frame: FrameType | None, names: tuple[str, ...]) -> Any:
    if frame is None:
        return None
    if frame.f_code is code:
        return frame  # sys.monitoring, or an inline probe: the call's own frame
    finder = frame_finders.get(id(frame.f_code))
    if finder is not None:
        return finder(frame, code)
    own = frame.f_code
    if (
        own.co_varnames[: len(names)] == code.co_varnames[: len(names)]
        and own.co_firstlineno == code.co_firstlineno
        and own.co_filename == code.co_filename
    ):
        return frame  # a generated wrapper (wrap.py): its parameters are the function's
    return None


def arguments(info: CodeInfo, code: CodeType, caller: FrameType | None) -> list[tuple[str, str]]:
    """The call's arguments, name and text, from the frame that called the event
    (the call's own frame, its wrapper's, or a generator driver's: see
    ``frame_finders``); empty when that frame is not found."""
    try:
        names, redacted, varkw = _params(info, code)
        if not names:
            return []
        frame = _call_frame(code, caller, names)
        if frame is None:
            return []
        scope = frame.f_locals
        try:
            return _texts(names, redacted, varkw, [scope.get(name, _UNSET) for name in names])
        finally:
            if type(scope) is dict:
                # Up to 3.12 f_locals is a snapshot kept on the frame: holding the
                # arguments after the program has let them go would change it.
                scope.clear()
    except Exception:
        return []


def given_arguments(
    info: CodeInfo, code: CodeType, given: tuple[Any, ...]
) -> list[tuple[str, str]]:
    """The call's arguments, name and text, from their values as a generated
    wrapper (wrap.py) hands them over, in the order of ``_parameters``: no frame
    read, no locals snapshot made (on 3.10/3.11 that snapshot of the wrapper's
    frame was most of what values cost)."""
    try:
        names, redacted, varkw = _params(info, code)
        if len(given) != len(names):
            return []
        return _texts(names, redacted, varkw, given)
    except Exception:
        return []


def _texts(
    names: tuple[str, ...], redacted: tuple[bool, ...], varkw: bool, got: Any
) -> list[tuple[str, str]]:
    out = []
    last = len(names) - 1
    for i, name in enumerate(names):
        v = got[i]
        if v is _UNSET:
            continue  # a cell not filled yet, or deleted
        if redacted[i]:
            out.append((name, REDACTED))
        elif varkw and i == last and type(v) is dict:
            out.append((name, _kwargs_text(v)))
        else:
            out.append((name, value_text(v)))
    return out


#: A parameter the frame does not hold.
_UNSET = object()


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    """``**kwargs``, with the values of secret-looking keys redacted."""
    if not any(type(k) is str and _redacted(k) for k in kwargs):
        return value_text(kwargs)
    shown = {
        k: _REDACTED_VALUE if type(k) is str and _redacted(k) else v for k, v in kwargs.items()
    }
    return value_text(shown)


#: Stands for a redacted value inside ``**kwargs`` while it is formatted.
_REDACTED_VALUE = object()


def args_text(args: list[tuple[str, str]]) -> str:
    """``(a=1, b='x')``, cut after the last argument that fits the line length."""
    parts = []
    left = _line_length
    for name, text in args:
        part = f"{name}={text}"
        if len(part) + 2 > left:
            parts.append(ELLIPSIS)
            break
        parts.append(part)
        left -= len(part) + 2
    return "(" + ", ".join(parts) + ")"
