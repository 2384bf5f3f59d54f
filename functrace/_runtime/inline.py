"""Python 3.10/3.11, ``@functrace.trace`` by hand: a plain function recompiled
from its source with an inline probe (probe.py), when the source provably is
what runs.

The function's ``def`` is found in its file (``linecache``, parsed once per file
and version of its lines) by name and first line (``co_firstlineno``: its first
decorator's line, else the ``def``'s). It is compiled alone inside a scaffold of
the scopes around it, with their real names (so the qualified name, the
``__class__`` cell of ``super()`` and private-name mangling come out the same)
and each of its free variables bound in the innermost function around it, with
the original's ``__future__`` flags: once with the probe, once without. The
probed code is used only if the one without ``==`` the function's own code
(bytecode, constants, names, line table: the source is what runs). Anything else
(no source, exec'd code, a mismatch) keeps the wrapper.
"""

from __future__ import annotations
import __future__

import ast
import linecache
import warnings
import weakref
from collections.abc import Callable
from types import CodeType, FunctionType
from typing import Any

from functrace._runtime.probe import unplace, wrap_body

__all__ = ["probed_code"]

_FUTURE_FLAGS = 0
for _name in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _name).compiler_flag

_CO_GENERATORS = 0x20 | 0x80 | 0x100 | 0x200

#: id(original code) -> (a weak reference to it, its probed code or None)
_done: dict[int, tuple[weakref.ref[CodeType], CodeType | None]] = {}
#: file name -> (the lines parsed, {(name, first line): (def node, its ancestors)})
_files: dict[str, tuple[list[str], dict[Any, Any]]] = {}
_Scope = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def probed_code(fn: FunctionType, bind: Callable[[CodeType], CodeType]) -> CodeType | None:
    """``fn``'s code compiled with a probe (``bind`` puts it in the placeholder's
    place), or None when that cannot be proved to be ``fn``'s own code. Cached per
    code object: the nested functions made again at each call of their parent get
    the same probed code for a lookup."""
    code = fn.__code__
    key = id(code)
    known = _done.get(key)
    if known is not None and known[0]() is code:
        return known[1]
    try:
        # Compiling again warns again (an invalid escape sequence, `is` with a
        # literal): the program saw those once, when its module was compiled.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = _compile(fn, code)
    except Exception:  # a source we cannot read or compile: the wrapper it is
        found = None
    if found is not None:
        found = bind(found)

    def forget(ref: weakref.ref[CodeType], key: int = key) -> None:
        entry = _done.get(key)
        if entry is not None and entry[0] is ref:
            del _done[key]

    _done[key] = (weakref.ref(code, forget), found)
    return found


def _compile(fn: FunctionType, code: CodeType) -> CodeType | None:
    if code.co_flags & _CO_GENERATORS:
        return None
    filename = code.co_filename
    lines = linecache.getlines(filename, fn.__globals__)
    if not lines:
        return None
    defs = _defs(filename, lines)
    place = defs.get((code.co_name, code.co_firstlineno))
    if place is None:
        return None
    node, ancestors = place
    imported = defs[_IMPORTED]
    if not isinstance(node, ast.FunctionDef):  # its flags said it is no generator
        return None
    flags = code.co_flags & _FUTURE_FLAGS
    plain = _compile_in(node, ancestors, imported, code, filename, flags)
    if plain is None:
        return None
    if hasattr(code, "co_qualname"):
        plain = plain.replace(co_qualname=code.co_qualname)
    if plain != code or plain.co_freevars != code.co_freevars:
        return None
    # A shallow copy with a body of its own: neither compile nor wrap_body changes
    # the nodes they share, so the cached tree stays as parsed.
    probed = ast.FunctionDef(**{field: getattr(node, field) for field in node._fields})
    ast.copy_location(probed, node)
    wrap_body(probed, fn.__qualname__)
    found = _compile_in(probed, ancestors, imported, code, filename, flags)
    return None if found is None else unplace(found)


def _defs(filename: str, lines: list[str]) -> dict[Any, Any]:
    """The file's ``def`` nodes by (name, first line), with their enclosing scopes
    (and, under ``_IMPORTED``, the names the module imports)."""
    cached = _files.get(filename)
    if cached is not None and cached[0] is lines:
        return cached[1]
    _files.pop(filename, None)
    tree = ast.parse("".join(lines), filename)
    found: dict[Any, Any] = {}
    imported: set[str] = set()

    def visit(body: list[ast.stmt], ancestors: tuple[_Scope, ...]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not isinstance(stmt, ast.ClassDef):
                    first = min([d.lineno for d in stmt.decorator_list] + [stmt.lineno])
                    found.setdefault((stmt.name, first), (stmt, ancestors))
                visit(stmt.body, (*ancestors, stmt))
                continue
            if isinstance(stmt, (ast.Import, ast.ImportFrom)) and not ancestors:
                imported.update(_bound(stmt))
            for child in ast.iter_child_nodes(stmt):  # blocks: if, for, try, with, match
                if isinstance(child, ast.stmt):
                    visit([child], ancestors)
                elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
                    visit(child.body, ancestors)

    visit(tree.body, ())
    found[_IMPORTED] = sorted(imported)
    while len(_files) >= _FILES_KEPT:  # a file's functions come in a burst, at its import
        _files.pop(next(iter(_files)), None)
    _files[filename] = (lines, found)
    return found


#: How many files' parsed trees are kept (a tree takes far more memory than its source).
_FILES_KEPT = 4


#: In a file's entry of ``_defs``: the names its module binds by importing.
_IMPORTED = ("", -1)


def _bound(stmt: ast.Import | ast.ImportFrom) -> list[str]:
    return [
        alias.asname or alias.name.partition(".")[0] for alias in stmt.names if alias.name != "*"
    ]


def _compile_in(
    node: ast.FunctionDef,
    ancestors: tuple[_Scope, ...],
    imported: list[str],
    code: CodeType,
    filename: str,
    flags: int,
) -> CodeType | None:
    """``node`` compiled inside empty copies of its enclosing scopes (the
    innermost function binding ``code``'s free variables) in a module that
    imports the names its module imports (3.11 compiles ``module.f()`` its own
    way); its code object."""
    # The decorators stay (compiled, never run): co_firstlineno is the first one's line.
    hole = ast.Pass()
    inner: ast.stmt = hole
    free = [name for name in code.co_freevars if name != "__class__"]
    bound = False
    for scope in reversed(ancestors):
        body: list[ast.stmt] = [inner]
        if free and not bound and not isinstance(scope, ast.ClassDef):
            targets: list[ast.expr] = [ast.Name(name, ast.Store()) for name in free]
            body.insert(0, ast.Assign(targets=targets, value=ast.Constant(None)))
            bound = True
        inner = _empty_scope(scope, body)
    if free and not bound:
        return None
    head: list[ast.stmt] = [ast.Import([ast.alias("_", name)]) for name in imported]
    module = ast.Module(body=[*head, inner], type_ignores=[])
    # Positions for the scaffold only (the def's own are its source's), then the
    # def in the hole: walking the def's whole body would cost more than compiling it.
    for part in ast.walk(module):
        if "lineno" in part._attributes:
            part.lineno = part.end_lineno = node.lineno  # type: ignore[attr-defined]
            part.col_offset = part.end_col_offset = 0  # type: ignore[attr-defined]
    if inner is hole:
        module.body[-1] = node
    else:
        _fill(module, hole, node)
    compiled = compile(module, filename, "exec", flags=flags, dont_inherit=True)
    return _find(compiled, code.co_name, code.co_firstlineno)


def _empty_scope(scope: _Scope, body: list[ast.stmt]) -> ast.stmt:
    """A class or ``def`` of ``scope``'s name holding ``body`` only."""
    fields: dict[str, Any] = {"name": scope.name, "body": body, "decorator_list": []}
    if isinstance(scope, ast.ClassDef):
        return ast.ClassDef(bases=[], keywords=[], **fields)
    empty = ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
    )
    return ast.FunctionDef(args=empty, returns=None, **fields)


def _fill(tree: ast.AST, hole: ast.stmt, node: ast.stmt) -> None:
    """Put ``node`` where ``hole`` is in the scaffold ``tree``."""
    for part in ast.walk(tree):
        body = getattr(part, "body", None)
        if isinstance(body, list) and hole in body:
            body[body.index(hole)] = node
            return


def _find(code: CodeType, name: str, line: int) -> CodeType | None:
    for const in code.co_consts:
        if type(const) is CodeType:
            if const.co_name == name and const.co_firstlineno == line:
                return const
            inner = _find(const, name, line)
            if inner is not None:
                return inner
    return None
