"""Python 3.10/3.11: inline probes, the enter and exit of a traced plain function
inside its own code, so that no frame is added for it.

A plain (sync, non-generator) function whose source we compile gets its body,
after the docstring, as ``with <probe>: <body>``. ``with`` is the right shape:
``__exit__`` runs once, after every inner ``finally``, and sees the exception;
returning False re-raises it with ``RERAISE``, which adds no traceback entry. The
function object, its globals, its parameters and its frames stay the function's
own: ``sys._getframe(n)``, ``warnings.warn(stacklevel=...)``, tracebacks, the
recursion limit and ``f.__code__`` in frames see what they saw untraced.

The probe is a constant of the code object: the source is compiled with a
placeholder string (:data:`PREFIX` + the qualified name) as the ``with``
expression (:func:`unplace` then fixes the line table), and :func:`bind` swaps
each placeholder for a probe, rebuilding the code objects that hold them
bottom-up. Nothing is added to the program's names.
A probe holds a *key* code object (a copy of its function's code without
constants: no cycle through the code that holds the probe) which the registry
(``state.info_for``) knows, so the events are the engine's usual ones.

The ``with`` statement gets no line number: its instructions then make no line
events (``sys.settrace``, coverage, debuggers see the same lines as untraced).
On 3.11 the compiler gives the first ones the ``def`` line anyway; :func:`unplace`
takes it off again in the line table.

The compiled probe (``_speedups.Probe``) makes no Python frame at all; the
pure-Python :class:`Probe` (``FUNCTRACE_SPEEDUPS=0``, no compiler) hands its
events to the engine's Python functions through C partials: one frame, the
event's own, only while an event runs. Both decide at the start of
the ``with`` (its two lookups) whether this call is traced: a call that started
while tracing was on ends with its exit line, one that started off writes none.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from functools import partial
from operator import attrgetter
from types import CodeType
from typing import Any, Literal, TypeVar

from functrace._runtime import engine, state

__all__ = [
    "PREFIX",
    "Probe",
    "available",
    "bind",
    "holds_probe",
    "inert",
    "is_plain",
    "new",
    "switch",
    "unplace",
    "wrap_body",
]

#: What a placeholder constant starts with; the function's qualified name follows.
PREFIX = "\x00functrace-probe\x00"

_CO_GENERATORS = 0x20 | 0x80 | 0x100 | 0x200  # generator, coroutine, iterable coroutine, async gen


def available() -> bool:
    """Inline probes are how plain functions are traced on this Python: 3.10 and
    3.11 (3.12+ observes the function's own code through ``sys.monitoring``)."""
    return sys.version_info < (3, 12)


# ---------------------------------------------------------------- the source


def is_plain(fn: ast.AST) -> bool:
    """A ``def`` (not ``async def``) with no ``yield`` of its own: its calls run
    to their end in one go, so one ``with`` sees each whole call."""
    if not isinstance(fn, ast.FunctionDef):
        return False
    todo: list[ast.AST] = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
            return False
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue  # a scope of its own
        todo.extend(ast.iter_child_nodes(node))
    return True


def wrap_body(fn: ast.FunctionDef, qualname: str) -> None:
    """``fn``'s body (after its docstring) in ``with <placeholder>:``, in place.
    The new nodes have no position (line -1): see the module's docstring."""
    body = fn.body
    first = body[0]
    doc = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    head, rest = (body[:1], body[1:]) if doc else ([], body)
    if not rest:
        rest = [_nowhere(ast.Pass())]
    item = ast.withitem(context_expr=_nowhere(ast.Constant(PREFIX + qualname)))
    fn.body = [*head, _nowhere(ast.With(items=[item], body=rest))]


_Node = TypeVar("_Node", bound=ast.AST)


def _nowhere(node: _Node) -> _Node:
    node.lineno = node.end_lineno = -1  # type: ignore[attr-defined]
    node.col_offset = node.end_col_offset = -1  # type: ignore[attr-defined]
    return node


# ---------------------------------------------------------------- binding

#: (key code, module, qualname) -> the probe to put in the placeholder's place.
Maker = Callable[[CodeType, str, str], Any]


def unplace(code: CodeType) -> CodeType:
    """3.11: ``code`` with each ``with`` set-up of a placeholder taken off the line
    table (see :func:`_setup_unplaced`), in it and in the code objects it holds.
    Done once, when the placeholders are compiled (the import hook caches the
    result): binding then only swaps constants."""
    if sys.version_info < (3, 11):
        return code
    consts = code.co_consts
    changed: list[Any] | None = None
    at = -1
    for i, const in enumerate(consts):
        if type(const) is CodeType:
            done = unplace(const)
            if done is not const:
                changed = changed or list(consts)
                changed[i] = done
        elif type(const) is str and const.startswith(PREFIX):
            at = i
    new = code if changed is None else code.replace(co_consts=tuple(changed))
    return _setup_unplaced(new, at) if at >= 0 else new


def bind(code: CodeType, module: str, make: Maker) -> CodeType:
    """``code`` with every placeholder, in it and in the code objects it holds,
    replaced by ``make(key, module, qualname)``."""
    consts = code.co_consts
    changed: list[Any] | None = None
    for i, const in enumerate(consts):
        if type(const) is CodeType:
            bound = bind(const, module, make)
            if bound is not const:
                changed = changed or list(consts)
                changed[i] = bound
        elif type(const) is str and const.startswith(PREFIX):
            changed = changed or list(consts)
            changed[i] = make(code.replace(co_consts=()), module, const[len(PREFIX) :])
    return code if changed is None else code.replace(co_consts=tuple(changed))


def _setup_unplaced(code: CodeType, const: int) -> CodeType:
    """3.11: the ``with``'s set-up (``LOAD_CONST probe; BEFORE_WITH; POP_TOP``)
    with no position in the line table. The compiler gives instructions without
    one the line before them, here the ``def`` line of ``RESUME``: a line event
    the untraced function does not make."""
    import opcode

    raw = code.co_code
    load, before, pop, ext = (
        opcode.opmap["LOAD_CONST"],
        opcode.opmap["BEFORE_WITH"],
        opcode.opmap["POP_TOP"],
        opcode.opmap["EXTENDED_ARG"],
    )
    units = len(raw) // 2
    start = arg = 0
    found = -1
    for unit in range(units - 2):
        op, oparg = raw[2 * unit], raw[2 * unit + 1]
        if op == ext:
            arg = arg << 8 | oparg
            continue
        arg = arg << 8 | oparg
        if op == load and arg == const and raw[2 * unit + 2] == before:
            found = unit
            break
        arg = 0
        start = unit + 1
    if found < 0 or raw[2 * found + 4] != pop:
        return code
    positions = list(code.co_positions())
    for unit in range(start, found + 3):
        positions[unit] = (None, None, None, None)
    return code.replace(co_linetable=_location_table(positions, code.co_firstlineno))


def _location_table(positions: list[Any], firstlineno: int) -> bytes:
    """A 3.11 ``co_linetable`` for one position per code unit (see CPython's
    Objects/locations.md): runs of up to 8 equal positions, in the no-location,
    no-column and long forms."""
    out = bytearray()
    line = firstlineno
    i, n = 0, len(positions)
    while i < n:
        pos = positions[i]
        j = i + 1
        while j < n and j - i < 8 and positions[j] == pos:
            j += 1
        start, end, col, end_col = pos
        if start is None:
            out.append(0x80 | 15 << 3 | (j - i - 1))
        elif col is None or end is None:
            out.append(0x80 | 13 << 3 | (j - i - 1))
            _svarint(out, start - line)
            line = start
        else:
            out.append(0x80 | 14 << 3 | (j - i - 1))
            _svarint(out, start - line)
            _varint(out, end - start)
            _varint(out, col + 1)
            _varint(out, 0 if end_col is None else end_col + 1)
            line = start
        i = j
    return bytes(out)


def _varint(out: bytearray, value: int) -> None:
    while value >= 64:
        out.append(64 | value & 63)
        value >>= 6
    out.append(value)


def _svarint(out: bytearray, value: int) -> None:
    _varint(out, (-value) << 1 | 1 if value < 0 else value << 1)


# ---------------------------------------------------------------- the probes

_on = False


def switch(on: bool) -> None:
    """Tracing on or off for every probe (the backend's switch)."""
    global _on
    _on = on
    # The pure-Python probe's __enter__ and __exit__ are swapped on its class, so
    # that a `with` finds the traced or the idle ones in its two lookups (one
    # instruction, in C) as the compiled probe's descriptors give them.
    setattr(Probe, "__enter__", _TRACED_ENTER if on else _IDLE)  # noqa: B010
    setattr(Probe, "__exit__", _TRACED_EXIT if on else _IDLE)  # noqa: B010
    native = engine.native_module()
    if native is not None:
        native.probe_switch(on)


def new(key: CodeType) -> Any:
    """A probe for the function whose registered code is ``key``: the compiled
    one when the compiled module is in use."""
    native = engine.native_module()
    if native is not None:
        native.probe_switch(_on)  # it may have been loaded since the last switch
        return native.Probe(key)
    return Probe(key)


def _idle(*exc: object) -> bool:
    return False


_IDLE = staticmethod(_idle)


class Probe:
    """The pure-Python probe: the same decisions as the compiled one
    (:func:`switch` sets its ``__enter__`` and ``__exit__``).

    Traced, ``__enter__`` and ``__exit__`` are properties that hand out the
    probe's own partials of the engine's event functions (``attrgetter`` and
    ``partial`` are C): the only Python frame of each event is the event's own.
    """

    __slots__ = ("code", "on_enter", "on_exit")

    def __init__(self, code: CodeType) -> None:
        self.code = code
        self.on_enter = partial(engine.enter, False, code)
        # Called with __exit__'s (exc_type, exc, tb): see engine.PROBE_EXIT.
        self.on_exit = partial(engine.leave, engine.PROBE_EXIT, code)

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self)

    __enter__: Any = _IDLE
    __exit__: Any = _IDLE


_TRACED_ENTER = property(attrgetter("on_enter"))
_TRACED_EXIT = property(attrgetter("on_exit"))


class _Inert:
    """In a filtered-out function's placeholder (FUNCTRACE_EXCLUDE): nothing."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> Literal[False]:
        return False


def _reduce(obj: Any) -> tuple[Any, ...]:
    """How a probe pickles (cloudpickle and dill pickle nested functions by
    value, constants and all): as its function's name and key code, traced
    again where it is unpickled (if tracing is on there); an inert one as such."""
    code = getattr(obj, "code", None)
    if code is None:
        return (_restored, ())
    info = state.infos.get(id(code))
    return (_restored, (code, info.name if info is not None else ""))


def _restored(key: CodeType | None = None, name: str = "") -> Any:
    if key is None or not name:
        return inert(key, "", name)  # type: ignore[arg-type]
    from functrace._runtime.decorator import restored_probe

    return restored_probe(key, name)


def holds_probe(code: CodeType) -> bool:
    """Whether ``code`` has a probe in it (its function is traced already)."""
    native = engine.native_module()
    kinds = (
        (Probe, _Inert)
        if native is None
        else (Probe, _Inert, native.Probe, type(native.idle_probe))
    )
    return any(type(const) in kinds for const in code.co_consts)


def inert(key: CodeType, module: str, qualname: str) -> Any:
    """A probe that never traces (a :data:`Maker`)."""
    native = engine.native_module()
    return native.idle_probe if native is not None else _INERT


_INERT = _Inert()
