"""``functrace instrument``: add ``import functrace`` and an innermost ``@functrace.trace``
to every function the policy picks, inserting whole lines into the original bytes.

Where the import goes: right after the module docstring and ``from __future__``
imports when there are any, otherwise right before the first statement (after the
leading comments: shebang, encoding cookie, licence). It is not added when the module
already imports functrace among its leading statements. If the module uses the name
``functrace`` for anything else, functrace is imported as ``_functrace`` (or the first
free ``_functrace_N``) and the decorators use that name.

Each added line carries the marker ``# functrace: added`` (see
:mod:`functrace.codemod.forms`) so that ``strip`` removes exactly these lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from functrace.codemod import policy
from functrace.codemod._locate import NotExact, locate
from functrace.codemod._syntax import (
    bound_imports,
    child_blocks,
    comments_of,
    dotted_name,
    header_comments,
    keeping_bom,
    parse_guarded,
)
from functrace.codemod.forms import decorator_line, import_line, split_line
from functrace.codemod.result import Result

__all__ = ["instrument_source"]


def _instrument_source(src: bytes) -> Result:
    if policy.file_is_skipped(src):
        return Result.skipped("functrace: skip-file")
    module = parse_guarded(src)
    if isinstance(module, Result):
        return module
    try:
        return _Instrumenter(src, module).run()
    except NotExact as exc:
        return Result.failed(f"left untouched: {exc}")
    except RecursionError:
        return Result.failed("left untouched: too deeply nested for libcst (RecursionError)")
    except Exception as exc:  # a bug of ours must not stop the other files
        return Result.failed(f"internal error: {type(exc).__name__}: {exc}")


class _Instrumenter:
    def __init__(self, src: bytes, module: cst.Module) -> None:
        self.src = src
        self.module = module
        # Pragmas and aliases only matter when the text can contain them.
        self.has_pragmas = b"functrace:" in src
        self.mentions_functrace = policy.MODULE.encode() in src
        self.aliases: dict[str, str] = {}
        self.candidates: list[cst.FunctionDef] = []

    def run(self) -> Result:
        self._collect(self.module.body, skipped=False)
        targets = [fn for fn in self.candidates if self._verdict(fn) is policy.Verdict.TRACE]
        if not targets:
            return Result.unchanged()
        name, needs_import = self._module_name()
        anchor, after = self._import_anchor() if needs_import else (None, None)
        wanted: list[cst.CSTNode] = list(targets)
        if anchor is not None:
            wanted.append(anchor)
        located = locate(self.src, self.module, wanted, after)

        encoding = "utf-8" if self.module.encoding == "utf-8-sig" else self.module.encoding
        newline = self.module.default_newline.encode()
        inserts: dict[int, list[bytes]] = {}
        if needs_import:
            at = located.after if anchor is None else located.starts[-1]
            assert at is not None
            ending = _ending(located.lines[at - 1 if anchor is None else at])
            line = import_line(name).encode(encoding) + (ending or newline)
            inserts.setdefault(at, []).append(line)
        decorator = decorator_line(name).encode(encoding)
        for at in located.starts[: len(targets)]:
            indent, content, ending = split_line(located.lines[at])
            if not content.startswith((b"def", b"async")):
                raise NotExact(f"line {at + 1} does not start a function definition")
            inserts.setdefault(at, []).append(indent + decorator + (ending or newline))
        out: list[bytes] = []
        for index, line in enumerate(located.lines):
            added = inserts.get(index)
            if added is not None:
                out.extend(added)
            out.append(line)
        return Result.changed(b"".join(out), len(targets))

    def _collect(self, block: Sequence[object], skipped: bool) -> None:
        for stmt in block:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, (cst.Import, cst.ImportFrom)):
                        self.aliases.update(bound_imports(small))
            elif isinstance(stmt, cst.FunctionDef):
                inner = skipped or (
                    self.has_pragmas and policy.class_is_skipped(self._comments(stmt))
                )
                if not skipped:
                    self.candidates.append(stmt)
                self._collect(stmt.body.body, inner)
            elif isinstance(stmt, cst.ClassDef):
                inner = skipped or (
                    self.has_pragmas and policy.class_is_skipped(self._comments(stmt))
                )
                self._collect(stmt.body.body, inner)
            elif isinstance(stmt, cst.BaseCompoundStatement):
                for child in child_blocks(stmt):
                    self._collect(child, skipped)
            elif isinstance(stmt, (cst.Import, cst.ImportFrom)):  # in `if x: import y`
                self.aliases.update(bound_imports(stmt))

    def _verdict(self, fn: cst.FunctionDef) -> policy.Verdict:
        if not fn.decorators and not self.has_pragmas:
            return policy.Verdict.TRACE
        names = []
        for decorator in fn.decorators:
            dotted = dotted_name(decorator.decorator)
            if dotted is not None:
                names.append(policy.qualify(dotted, self.aliases))
        comments = self._comments(fn) if self.has_pragmas else ()
        return policy.judge_function(names, comments)

    def _comments(self, node: cst.FunctionDef | cst.ClassDef) -> list[str]:
        comments = list(comments_of(node))
        if self.module.body and node is self.module.body[0]:
            comments += header_comments(self.module)
        return comments

    def _module_name(self) -> tuple[str, bool]:
        """The name the decorators use, and whether an import must be added."""
        if not self.mentions_functrace:
            return policy.MODULE, True
        clash = _uses_name_otherwise(self.module, policy.MODULE)
        if not clash:
            existing = self._leading_import()
            if existing is not None:
                return existing, False

        def is_taken(name: str) -> bool:
            return clash if name == policy.MODULE else name.encode() in self.src

        return policy.choose_module_name(is_taken), True

    def _leading_import(self) -> str | None:
        """The name functrace is bound to by the module's leading simple statements."""
        for stmt in self.module.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                return None
            for small in stmt.body:
                if isinstance(small, cst.Import):
                    for local, qualified in bound_imports(small):
                        if qualified == policy.MODULE:
                            return local
        return None

    def _import_anchor(self) -> tuple[cst.CSTNode | None, cst.BaseStatement | None]:
        """Either ``(None, last prefix statement)`` to insert after it, or
        ``(first node of the first statement, None)`` to insert before it."""
        body = self.module.body
        last_prefix: cst.BaseStatement | None = None
        for index, stmt in enumerate(body):
            if not isinstance(stmt, cst.SimpleStatementLine) or not stmt.body:
                break
            first = stmt.body[0]
            is_docstring = (
                index == 0
                and isinstance(first, cst.Expr)
                and isinstance(first.value, (cst.SimpleString, cst.ConcatenatedString))
            )
            is_future = (
                isinstance(first, cst.ImportFrom)
                and first.module is not None
                and dotted_name(first.module) == "__future__"
            )
            if not (is_docstring or is_future):
                break
            last_prefix = stmt
        if last_prefix is not None:
            return None, last_prefix
        first_stmt = body[0]
        if isinstance(first_stmt, (cst.FunctionDef, cst.ClassDef)) and first_stmt.decorators:
            return first_stmt.decorators[0], None
        return first_stmt, None


def _ending(line: bytes) -> bytes:
    return split_line(line)[2]


class _NameUse(cst.CSTVisitor):
    """Finds a use of ``name`` other than ``import name`` or ``name.attribute``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.allowed: set[int] = set()
        self.found = False

    def visit_Import(self, node: cst.Import) -> bool:
        for alias in node.names:  # `import functrace[.x] [as y]` never rebinds it
            head: cst.BaseExpression = alias.name
            while isinstance(head, cst.Attribute):
                head = head.value
            self.allowed.add(id(head))
        return True

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        head: cst.BaseExpression | None = node.module
        while isinstance(head, cst.Attribute):
            head = head.value
        if head is not None:
            self.allowed.add(id(head))
        return True

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        self.allowed.add(id(node.value))
        self.allowed.add(id(node.attr))
        return True

    def visit_Name(self, node: cst.Name) -> bool:
        if node.value == self.name and id(node) not in self.allowed:
            self.found = True
        return False


def _uses_name_otherwise(module: cst.Module, name: str) -> bool:
    visitor = _NameUse(name)
    module.visit(visitor)
    return visitor.found


#: Instrument one module's source. Never raises: failures are results.
instrument_source = keeping_bom(_instrument_source)
