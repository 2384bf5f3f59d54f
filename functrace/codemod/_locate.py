"""Find the source lines of chosen libcst nodes, so edits are made on the original bytes.

libcst's own round trip is not exact on every file (LibCST issue 1457 drops a space
in ``except (...) :``), so functrace never regenerates a file: it asks libcst's code
generator where the nodes it cares about start, then inserts or removes whole lines
of the original bytes. Every byte it does not mean to change stays as read.

The code generator is driven with a state that notes the line only for the wanted
nodes (cheaper than libcst's PositionProvider, which builds a range for every node).
When the regenerated text differs from the file, the lines touched are checked one by
one against the regenerated ones; if any differs, the file is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst
from libcst._nodes.internal import CodegenState  # private, but the hook we need

__all__ = ["Located", "NotExact", "locate"]

_NULL = contextlib.nullcontext()


class NotExact(Exception):
    """libcst's view of the file does not match its bytes where an edit is wanted."""


@dataclass(frozen=True)
class Located:
    #: The original source split into lines, line endings kept.
    lines: list[bytes]
    #: For each wanted node, the index in ``lines`` of the line its first token is on.
    starts: list[int]
    #: The index of the line right after the ``after`` statement, if one was given.
    after: int | None


@dataclass
class _LineNoter(CodegenState):
    wanted: dict[int, list[int]] = field(default_factory=dict)
    found: list[int] = field(default_factory=list)
    _seen: int = 0
    _line: int = 0

    def line_now(self) -> int:
        tokens = self.tokens
        chunk = "".join(tokens[self._seen :])
        self._seen = len(tokens)
        # Line breaks as Python counts them: \r\n, \r or \n. A \r\n is never split
        # across two tokens, so counting per chunk is exact.
        self._line += chunk.count("\n") + chunk.count("\r") - chunk.count("\r\n")
        return self._line

    def record_syntactic_position(  # type: ignore[override]
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> contextlib.AbstractContextManager[None]:
        slots = self.wanted.get(id(node))
        if slots is not None:
            line = self.line_now()
            for slot in slots:
                self.found[slot] = line
        return _NULL


def locate(
    src: bytes,
    module: cst.Module,
    nodes: Sequence[cst.CSTNode],
    after: cst.BaseStatement | None = None,
) -> Located:
    """Lines of ``nodes`` (each must be a statement, a decorator or a small statement)
    and of the end of the module-level statement ``after``.

    Raises :class:`NotExact` when those lines cannot be trusted.
    """
    state = _LineNoter(default_indent=module.default_indent, default_newline=module.default_newline)
    for i, node in enumerate(nodes):
        state.wanted.setdefault(id(node), []).append(i)
    state.found = [-1] * len(nodes)
    after_line: int | None = None
    # Module._codegen_impl, with a note after the `after` statement.
    for line in module.header:
        line._codegen(state)
    for stmt in module.body:
        stmt._codegen(state)
        if stmt is after:
            after_line = state.line_now()
    for line in module.footer:
        line._codegen(state)
    if module.has_trailing_newline:
        if not state.tokens:
            state.add_token(state.default_newline)
    else:
        state.pop_trailing_newline()

    lines = src.splitlines(keepends=True)
    generated = "".join(state.tokens).encode(module.encoding)
    if -1 in state.found:
        raise NotExact("libcst did not report the position of every definition")
    if generated != src:
        _check_lines(lines, generated.splitlines(keepends=True), state.found, after_line)
    return Located(lines, state.found, after_line)


def _check_lines(
    lines: list[bytes], regenerated: list[bytes], starts: list[int], after: int | None
) -> None:
    if len(lines) != len(regenerated):
        raise NotExact("libcst does not reproduce this file's lines exactly")
    touched = list(starts)
    if after is not None:
        touched += [after - 1, after]
    for index in touched:
        if 0 <= index < len(lines) and lines[index] != regenerated[index]:
            raise NotExact(f"libcst does not reproduce line {index + 1} of this file exactly")
