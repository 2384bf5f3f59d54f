"""Plain facts read off libcst nodes: nested statement blocks, dotted names, comments,
imports. Only statements are walked (functions are statements), never expressions."""

from __future__ import annotations

import ast
import io
import itertools
import tokenize
from collections.abc import Callable, Iterator, Sequence

import libcst as cst

from functrace.codemod._nesting import too_complex
from functrace.codemod.result import Result

__all__ = [
    "MAX_NESTING",
    "bound_imports",
    "bracket_depth",
    "child_blocks",
    "comments_of",
    "dotted_name",
    "header_comments",
    "keeping_bom",
    "parse_error",
    "parse_guarded",
    "python_error",
    "split_bom",
    "too_deep",
]

Block = Sequence[cst.BaseStatement] | Sequence[cst.BaseSmallStatement]


def child_blocks(stmt: cst.BaseCompoundStatement) -> Iterator[Block]:
    """The statement lists directly inside a compound statement (bodies, else, except,
    finally, match cases), in source order."""
    if isinstance(stmt, cst.Match):
        for case in stmt.cases:
            yield _suite(case.body)
        return
    yield _suite(stmt.body)
    if isinstance(stmt, (cst.Try, cst.TryStar)):
        for handler in stmt.handlers:
            yield _suite(handler.body)
    orelse = getattr(stmt, "orelse", None)
    while orelse is not None:
        yield _suite(orelse.body)
        if isinstance(orelse, cst.If):  # elif
            orelse = orelse.orelse
        else:
            break
    finalbody = getattr(stmt, "finalbody", None)
    if finalbody is not None:
        yield _suite(finalbody.body)


def _suite(suite: cst.BaseSuite) -> Block:
    return suite.body


def dotted_name(expr: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a name or attribute chain (a call stands for its callee)."""
    if isinstance(expr, cst.Call):
        expr = expr.func
    parts: list[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if not isinstance(expr, cst.Name):
        return None
    parts.append(expr.value)
    return ".".join(reversed(parts))


def comments_of(node: cst.FunctionDef | cst.ClassDef) -> Iterator[str]:
    """Comments attached to a definition: lines above it, on and between its
    decorators, and after the colon of its header."""
    for line in node.leading_lines:
        if line.comment is not None:
            yield line.comment.value
    for decorator in node.decorators:
        for line in decorator.leading_lines:
            if line.comment is not None:
                yield line.comment.value
        if decorator.trailing_whitespace.comment is not None:
            yield decorator.trailing_whitespace.comment.value
    for line in node.lines_after_decorators:
        if line.comment is not None:
            yield line.comment.value
    body = node.body
    if isinstance(body, cst.IndentedBlock):
        trailing = body.header
    elif isinstance(body, cst.SimpleStatementSuite):
        trailing = body.trailing_whitespace
    else:
        return
    if trailing.comment is not None:
        yield trailing.comment.value


def header_comments(module: cst.Module) -> list[str]:
    """The comment lines directly above the module's first statement (libcst keeps
    them in the module header rather than in the statement's leading lines)."""
    block: list[str] = []
    for line in module.header:
        if line.comment is None:
            block = []
        else:
            block.append(line.comment.value)
    return block


def bound_imports(small: cst.BaseSmallStatement) -> Iterator[tuple[str, str]]:
    """``(local name, qualified name)`` for each name an import statement binds."""
    if isinstance(small, cst.Import):
        for alias in small.names:
            dotted = dotted_name(alias.name) or ""
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                yield alias.asname.name.value, dotted
            else:
                head = dotted.partition(".")[0]
                yield head, head
    elif isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
        module = dotted_name(small.module) or ""
        if isinstance(small.names, cst.ImportStar):
            return
        for alias in small.names:
            name = dotted_name(alias.name) or ""
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            yield local, f"{module}.{name}"


#: Python refuses more nested brackets than this; libcst's parser crashes the process
#: (stack overflow) somewhere past 800, so deeper files are refused before parsing.
MAX_NESTING = 200

_STEP = [0] * 256
_STEP[ord("(")] = _STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord(")")] = _STEP[ord("]")] = _STEP[ord("}")] = -1
_NOT_BRACKETS = bytes(b for b in range(256) if not _STEP[b])


def bracket_depth(src: bytes) -> int:
    """How deeply brackets nest in ``src``, strings and comments included (so it can
    only overstate); cheap, and exact enough to tell a real file from a hostile one."""
    brackets = src.translate(None, _NOT_BRACKETS)
    if len(brackets) <= MAX_NESTING:
        return len(brackets)
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)))


def too_deep(src: bytes) -> str | None:
    """Why libcst must not be given ``src``, if brackets nest deeper than Python allows."""
    if bracket_depth(src) <= MAX_NESTING:
        return None
    depth, deepest = 0, 0
    try:  # strings or comments may hold the brackets: count real ones
        for token in tokenize.tokenize(io.BytesIO(src).readline):
            if token.type == tokenize.OP:
                if token.string in "([{":
                    depth += 1
                    deepest = max(deepest, depth)
                elif token.string in ")]}":
                    depth -= 1
    except (SyntaxError, tokenize.TokenError) as exc:
        if "nested" not in str(exc):
            return "cannot parse: brackets nested too deeply"
        # 3.12+ tokenizes in C and stops at Python's own limit: report the depth
        # from the cheap count (which can only overstate, by brackets in strings).
        deepest = bracket_depth(src)
    if deepest > MAX_NESTING:
        return f"cannot parse: brackets nested {deepest} deep (Python allows {MAX_NESTING})"
    return None


def parse_guarded(src: bytes) -> cst.Module | Result:
    """``src`` parsed by libcst, or the failed result saying why not (never raises)."""
    try:
        hostile = too_deep(src) or too_complex(src)
    except Exception as exc:  # a bug of ours: refuse rather than risk a crash
        return Result.failed(f"internal error: {type(exc).__name__}: {exc}")
    if hostile is not None:
        return Result.failed(hostile)
    try:
        return cst.parse_module(src)
    except cst.ParserSyntaxError as exc:
        reason, line, column = parse_error(exc)
        failed = Result.failed(f"cannot parse: {_one_line(reason)}", line, column)
    except RecursionError:
        return Result.failed("cannot parse: too deeply nested for libcst (RecursionError)")
    except Exception as exc:  # e.g. an unknown encoding in the cookie
        failed = Result.failed(f"cannot parse: {_one_line(str(exc))}")
    return python_error(src) or failed


def python_error(src: bytes) -> Result | None:
    """CPython's own complaint about ``src`` (message and position), or None if it
    parses. Only asked once libcst has failed: a good file never pays for it, and a bad
    one gets the message Python users know (``'(' was never closed``) rather than
    libcst's list of expected tokens."""
    try:
        compile(src, "<source>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        line = exc.lineno if exc.lineno and exc.lineno > 0 else None  # 0: the cookie
        column = exc.offset if line and exc.offset and exc.offset > 0 else None
        return Result.failed(f"cannot parse: {_one_line(exc.msg)}", line, column)
    except (ValueError, MemoryError, RecursionError) as exc:  # null bytes, giant files
        return Result.failed(f"cannot parse: {_one_line(str(exc))}")
    return None


def _one_line(message: str) -> str:
    """The first non-blank line of ``message`` (libcst's come with the source line and a
    caret under it)."""
    for line in message.splitlines():
        if line.strip():
            return line.strip()
    return message.strip()


def keeping_bom(transform: Callable[[bytes], Result]) -> Callable[[bytes], Result]:
    """``transform`` applied after a UTF-8 byte order mark, which is kept in front."""

    def apply(src: bytes) -> Result:
        bom, rest = split_bom(src)
        result = transform(rest)
        if bom and result.output is not None:
            return Result.changed(bom + result.output, result.functions)
        return result

    return apply


def split_bom(src: bytes) -> tuple[bytes, bytes]:
    """``(UTF-8 byte order mark or b"", the rest)``: edits are made on the rest, so a
    line inserted at the top goes after the mark."""
    bom = b"\xef\xbb\xbf"
    return (bom, src[3:]) if src.startswith(bom) else (b"", src)


def parse_error(exc: cst.ParserSyntaxError) -> tuple[str, int, int]:
    """``(reason, line, column)`` of a libcst parse error, column counted from 1."""
    message = exc.message
    prefix, sep, rest = message.partition(": error at ")
    if sep and prefix == "parser error":
        _, sep2, reason = rest.partition(": ")
        message = reason if sep2 else message
    return message, exc.raw_line, exc.raw_column + 1
