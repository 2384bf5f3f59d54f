"""Which functions of a module the policy traces, read off the stdlib ``ast`` (no
libcst, formatting does not matter), and the rewrite that decorates them.

:func:`chosen_defs` gives the ``def`` nodes: the facts the policy needs are read
off the ``ast`` (decorator names, imports) and the source's comment tokens
(pragmas); the decisions are :mod:`functrace.codemod.policy`'s, the same as
``functrace instrument``'s. On 3.12+ the hook matches them to code objects
(:mod:`functrace.importhook._codes`); on 3.10/3.11 :func:`rewrite_tree` wraps the
body of each plain function in an inline probe (``with <placeholder>:``, bound by
the loader: ``functrace._runtime.probe``) and puts an innermost
``@__functrace_trace__`` on each of the others.

The decorator is a global name, :data:`TRACE_NAME`, that the loader puts in the
module's namespace before running it: nothing is imported into the module, no
import statement runs (import auditors see none), and the dunder name is skipped
by ``from module import *``. The inserted node carries the ``def`` line's
position, and decorators never move statements, so every line number is kept.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator

from functrace._runtime import probe
from functrace.codemod import policy

__all__ = ["TRACE_NAME", "chosen_defs", "first_line", "rewrite_tree"]

#: The global the rewritten code decorates with; bound to ``functrace.trace``.
TRACE_NAME = "__functrace_trace__"

_Def = ast.FunctionDef | ast.AsyncFunctionDef
_Part = ast.expr | ast.arg | ast.keyword  # what a header's last part can be


def rewrite_tree(
    source: bytes, filename: str, probes: bool = False
) -> tuple[ast.Module | None, int]:
    """``(tree, number of functions traced)``; ``(None, 0)`` when the file is
    skipped (``# functrace: skip-file``). Raises ``SyntaxError`` like ``compile``.

    ``probes``: plain functions get an inline probe placeholder around their body
    (``functrace._runtime.probe``, bound after compiling) rather than the decorator;
    generator, coroutine and async generator functions keep the decorator (their
    wrappers drive them step by step)."""
    chosen = chosen_defs(source, filename)
    if chosen is None:
        return None, 0
    tree, defs = chosen
    names = _qualnames(tree) if probes else {}
    for fn in defs:
        if probes and probe.is_plain(fn):
            assert isinstance(fn, ast.FunctionDef)
            probe.wrap_body(fn, names[id(fn)])
        else:
            fn.decorator_list.append(_trace_node(fn))
    return tree, len(defs)


def _qualnames(tree: ast.Module) -> dict[int, str]:
    """Each ``def``'s ``__qualname__`` as the compiler makes it, by ``id(node)``."""
    names: dict[int, str] = {}
    todo: list[tuple[ast.AST, str]] = [(tree, "")]
    while todo:
        node, prefix = todo.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                names[id(child)] = name
                inner = f"{name}.<locals>." if not isinstance(child, ast.ClassDef) else f"{name}."
                todo.append((child, inner))
            elif isinstance(child, ast.Lambda):
                todo.append((child, f"{prefix}<lambda>.<locals>."))
            else:
                todo.append((child, prefix))
    return names


def chosen_defs(source: bytes, filename: str) -> tuple[ast.Module, list[_Def]] | None:
    """The tree and the ``def`` nodes the policy traces, in source order; None when
    the file is skipped. Raises ``SyntaxError`` like ``compile``."""
    if policy.file_is_skipped(source):
        return None
    tree = ast.parse(source, filename)
    comments = _Comments(source) if b"functrace:" in source else None
    aliases: dict[str, str] = {}
    candidates: list[_Def] = []
    _collect(tree.body, aliases, candidates, comments, skipped=False)
    return tree, [
        fn for fn in candidates if _verdict(fn, aliases, comments) is policy.Verdict.TRACE
    ]


def first_line(fn: _Def) -> int:
    """The line a ``def``'s code object starts on (``co_firstlineno``): its first
    decorator's, or the ``def``'s own when it has none (Python 3.8+)."""
    return min([d.lineno for d in fn.decorator_list] + [fn.lineno])


def _trace_node(fn: _Def) -> ast.expr:
    return ast.Name(
        id=TRACE_NAME,
        ctx=ast.Load(),
        lineno=fn.lineno,
        col_offset=fn.col_offset,
        end_lineno=fn.lineno,
        end_col_offset=fn.col_offset,
    )


def _collect(
    body: list[ast.stmt],
    aliases: dict[str, str],
    out: list[_Def],
    comments: _Comments | None,
    skipped: bool,
) -> None:
    """Statements only (functions are statements), in source order, like the
    libcst front end: every def not covered by a skip, every import's names."""
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            aliases.update(_bound(stmt))
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            inner = skipped or (comments is not None and policy.class_is_skipped(comments.of(stmt)))
            if not skipped and not isinstance(stmt, ast.ClassDef):
                out.append(stmt)
            _collect(stmt.body, aliases, out, comments, inner)
        else:
            for block in _child_blocks(stmt):
                _collect(block, aliases, out, comments, skipped)


def _child_blocks(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    for field in ("body", "orelse", "finalbody"):
        block = getattr(stmt, field, None)
        if isinstance(block, list):
            yield block
    for handler in getattr(stmt, "handlers", ()):
        yield handler.body
    for case in getattr(stmt, "cases", ()):
        yield case.body


def _bound(stmt: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname is not None:
                yield alias.asname, alias.name
            else:
                head = alias.name.partition(".")[0]
                yield head, head
    elif stmt.module is not None and not stmt.level:
        for alias in stmt.names:
            if alias.name != "*":
                yield alias.asname or alias.name, f"{stmt.module}.{alias.name}"


def _dotted(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Call):
        expr = expr.func
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    parts.append(expr.id)
    return ".".join(reversed(parts))


def _verdict(fn: _Def, aliases: dict[str, str], comments: _Comments | None) -> policy.Verdict:
    if not fn.decorator_list and comments is None:
        return policy.Verdict.TRACE
    names = []
    for decorator in fn.decorator_list:
        dotted = _dotted(decorator)
        if dotted is not None:
            names.append(policy.qualify(dotted, aliases))
    return policy.judge_function(names, comments.of(fn) if comments is not None else ())


class _Comments:
    """The source's comments by line, and which of them a definition owns: the
    comment lines right above it, those on and between its decorators, and the one
    after the colon of its header (what libcst attaches to the node)."""

    def __init__(self, source: bytes) -> None:
        self.by_line: dict[int, str] = {}
        self.code_lines: set[int] = set()
        self.colons: list[tuple[int, int]] = []  # positions of ':' tokens
        try:
            tokens = list(tokenize.tokenize(io.BytesIO(source).readline))
        except (tokenize.TokenError, SyntaxError):
            tokens = []
        skip = {
            tokenize.COMMENT,
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENCODING,
            tokenize.ENDMARKER,
        }
        for tok in tokens:
            if tok.type == tokenize.COMMENT:
                self.by_line[tok.start[0]] = tok.string
            elif tok.type not in skip:
                self.code_lines.update(range(tok.start[0], tok.end[0] + 1))
                if tok.type == tokenize.OP and tok.string == ":":
                    self.colons.append(tok.start)

    def of(self, node: _Def | ast.ClassDef) -> Iterator[str]:
        first = min([d.lineno for d in node.decorator_list] + [node.lineno])
        line = first - 1
        while line > 0 and line not in self.code_lines:  # blank or comment-only lines
            comment = self.by_line.get(line)
            if comment is not None:
                yield comment
            line -= 1
        for line in range(first, self._header_end(node) + 1):
            comment = self.by_line.get(line)
            if comment is not None:
                yield comment

    def _header_end(self, node: _Def | ast.ClassDef) -> int:
        """The line of the colon that ends the header: the first ':' at bracket
        depth 0 after the name (annotations' colons sit inside brackets)."""
        start = node.body[0]
        limit = (start.lineno, start.col_offset)
        after: _Part | None = node.returns if isinstance(node, _Def) else None
        if after is None:
            args = node.args if isinstance(node, _Def) else None
            parts: list[_Part] = []
            if args is not None:
                parts = [
                    *args.posonlyargs,
                    *args.args,
                    *args.kwonlyargs,
                    *args.defaults,
                    *[d for d in args.kw_defaults if d is not None],
                ]
                parts += [a for a in (args.vararg, args.kwarg) if a is not None]
            elif isinstance(node, ast.ClassDef):
                parts = [*node.bases, *node.keywords]
            after = max(
                parts, key=lambda p: (p.end_lineno or 0, p.end_col_offset or 0), default=None
            )
        begin = (
            (node.lineno, node.col_offset)
            if after is None
            else (after.end_lineno or after.lineno, after.end_col_offset or 0)
        )
        for pos in self.colons:  # few; first after the signature's last part
            if begin <= pos < limit:
                return pos[0]
        return node.lineno
