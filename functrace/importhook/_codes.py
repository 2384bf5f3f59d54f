"""Python 3.12+: trace a module's functions through their code objects, no rewrite.

The module's normal bytecode runs (the standard ``.pyc`` cache, nothing bound in its
namespace, every line number as it is); before it runs, or after it ran for a module
imported before the hook, the code objects of the functions the policy picks are
handed to ``trace_code``, which observes every function made from them through
``sys.monitoring``.

Matching the policy's ``def`` nodes to code objects: a function's code object
starts on its first decorator's line, or its ``def`` line (``co_firstlineno``, as
:func:`~functrace.importhook._rewrite.first_line` computes it), and carries its
name. No two ``def`` statements share both. Class bodies, lambdas, comprehensions,
and the annotation scopes and lazy evaluators of PEP 695 (``type X = ...``,
``def f[T: int]``) are never ``def`` nodes, so never traced.

Most files need no parse: with no ``functrace:`` pragma, no ``overload`` and no
PEP 695 syntax in the source, the policy traces every ``def``, and every code
object that is a function's and not named ``<...>`` is one.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterable, Iterator

from functrace._runtime.decorator import trace_code

__all__ = ["chooser", "function_codes", "trace_codes"]

_NEWLOCALS = 0x2  # inspect.CO_NEWLOCALS: functions (and PEP 695 scopes), not class bodies
# Source that may make the policy skip a def (a pragma, an overload), or compile to
# code objects that look like a def's (PEP 695: `type X = ...`, the bounds of
# `def f[T: int]`) is parsed. Literal words first: a regex per literal-led pattern
# is ~5x faster than one with alternatives. False alarms only cost a parse.
_WORDS = (b"functrace:", b"overload")
_PEP695 = tuple(
    re.compile(p)
    for p in (rb"def[ \t]+\w+[ \t]*\[", rb"class[ \t]+\w+[ \t]*\[", rb"type[ \t]+\w+[ \t]*[=\[]")
)

Chooser = Callable[[types.CodeType], bool]


def _is_def_code(code: types.CodeType) -> bool:
    return bool(code.co_flags & _NEWLOCALS) and not code.co_name.startswith("<")


def _needs_parse(source: bytes) -> bool:
    return any(w in source for w in _WORDS) or any(p.search(source) for p in _PEP695)


def chooser(source: bytes, filename: str) -> Chooser | None:
    """Which code objects of ``source`` the policy traces; None: none at all
    (``# functrace: skip-file``). Raises ``SyntaxError`` like ``compile``."""
    if not _needs_parse(source):
        return _is_def_code
    from functrace.importhook._rewrite import chosen_defs, first_line

    chosen = chosen_defs(source, filename)
    if chosen is None:
        return None
    keys = {(first_line(fn), fn.name) for fn in chosen[1]}
    if not keys:
        return None
    return lambda code: (code.co_firstlineno, code.co_name) in keys


def function_codes(roots: Iterable[types.CodeType]) -> Iterator[types.CodeType]:
    """Every code object in ``roots`` and nested in their constants, each once."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        code = stack.pop()
        if id(code) in seen:
            continue
        seen.add(id(code))
        yield code
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))


def trace_codes(roots: Iterable[types.CodeType], module: str, choose: Chooser) -> int:
    """Trace the chosen functions' code objects under ``roots``; how many were."""
    count = 0
    for code in function_codes(roots):
        if choose(code) and trace_code(code, module, code.co_qualname):  # type: ignore[attr-defined,unused-ignore]
            count += 1
    return count
