"""``functrace strip``: remove exactly the lines ``instrument`` added.

A line is removed only when it is, byte for byte, a line ``instrument`` writes (see
:mod:`functrace.codemod.forms`): a decorator ``@<name>.trace  # functrace: added`` of
some function, or the module-level ``import functrace[ as <name>]  # functrace: added``.
Hand-written decorators and imports (no marker) and added lines edited since are
kept, and text inside string literals is never touched (the file is parsed).
Pragmas do not matter here: ``strip`` removes what was added, wherever it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from functrace.codemod import policy
from functrace.codemod._locate import NotExact, locate
from functrace.codemod._syntax import child_blocks, dotted_name, keeping_bom, parse_guarded
from functrace.codemod.forms import ADDED_MARKER, decorator_line, import_line, split_line
from functrace.codemod.result import Result

__all__ = ["strip_source"]


def _strip_source(src: bytes) -> Result:
    if ADDED_MARKER.encode() not in src:
        return Result.unchanged()
    module = parse_guarded(src)
    if isinstance(module, Result):
        return module
    try:
        return _strip(src, module)
    except NotExact as exc:
        return Result.failed(f"left untouched: {exc}")
    except RecursionError:
        return Result.failed("left untouched: too deeply nested for libcst (RecursionError)")
    except Exception as exc:
        return Result.failed(f"internal error: {type(exc).__name__}: {exc}")


def _strip(src: bytes, module: cst.Module) -> Result:
    decorators: list[cst.Decorator] = []
    _collect(module.body, decorators)
    imports = [stmt for stmt in module.body if _added_import(stmt) is not None]
    if not decorators and not imports:
        return Result.unchanged()
    located = locate(src, module, [*decorators, *imports])
    encoding = "utf-8" if module.encoding == "utf-8-sig" else module.encoding

    drop: set[int] = set()
    functions = 0
    for node, at in zip(decorators, located.starts, strict=False):
        name = dotted_name(node.decorator) or ""
        indent, content, _ = split_line(located.lines[at])
        if content == decorator_line(name.partition(".")[0]).encode(encoding):
            drop.add(at)
            functions += 1
    for stmt, at in zip(imports, located.starts[len(decorators) :], strict=False):
        name = _added_import(stmt) or ""
        indent, content, _ = split_line(located.lines[at])
        if not indent and content == import_line(name).encode(encoding):
            drop.add(at)
    if not drop:
        return Result.unchanged()
    out = b"".join(line for index, line in enumerate(located.lines) if index not in drop)
    return Result.changed(out, functions)


def _collect(block: Sequence[object], found: list[cst.Decorator]) -> None:
    for stmt in block:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            if isinstance(stmt, cst.FunctionDef):
                found.extend(d for d in stmt.decorators if _is_added_decorator(d))
            _collect(stmt.body.body, found)
        elif isinstance(stmt, cst.BaseCompoundStatement):
            for child in child_blocks(stmt):
                _collect(child, found)


def _is_added_decorator(decorator: cst.Decorator) -> bool:
    comment = decorator.trailing_whitespace.comment
    expr = decorator.decorator
    return (
        comment is not None
        and comment.value == ADDED_MARKER
        and isinstance(expr, cst.Attribute)
        and isinstance(expr.value, cst.Name)
        and expr.attr.value == "trace"
    )


def _added_import(stmt: cst.BaseStatement) -> str | None:
    """The name bound by an added ``import functrace`` statement, else None."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    comment = stmt.trailing_whitespace.comment
    small = stmt.body[0]
    if comment is None or comment.value != ADDED_MARKER or not isinstance(small, cst.Import):
        return None
    if len(small.names) != 1:
        return None
    alias = small.names[0]
    if not isinstance(alias.name, cst.Name) or alias.name.value != policy.MODULE:
        return None
    if alias.asname is None:
        return policy.MODULE
    asname = alias.asname.name
    return asname.value if isinstance(asname, cst.Name) else None


#: Strip one module's source. Never raises: failures are results.
strip_source = keeping_bom(_strip_source)
