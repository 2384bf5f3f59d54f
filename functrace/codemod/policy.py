"""Which functions functrace traces, and under which name: the one policy.

Every front end (the libcst rewriter behind ``functrace instrument``, an import hook
built on the stdlib ``ast``) extracts plain facts from its own syntax tree and asks
this module. It imports neither libcst nor ``ast``.

Facts a front end supplies:

- decorator names as dotted strings, with call arguments dropped
  (``@functools.wraps(f)`` -> ``"functools.wraps"``), resolved through the module's
  imports with :func:`qualify` (``import typing as t`` makes ``t.overload`` ->
  ``"typing.overload"``);
- the comments attached to a ``def`` or ``class`` (see "Pragmas").

Pragmas
-------
``# functrace: skip``
    On a function or class: it is not traced, nor is anything defined inside it.
    The comment may sit on a comment line above the definition (between the previous
    statement and it), on one of its decorator lines, between its decorators and the
    ``def``/``class`` line, or after the colon of its header. Text may follow it
    (``# functrace: skip -- hot loop``), and it may follow another comment
    (``# noqa: E501  # functrace: skip``).
``# functrace: skip-file``
    A comment line among the comments at the top of the file, before the first line
    of code (the module docstring counts as code): the whole file is left alone.

Decisions
---------
A ``def`` or ``async def`` at any depth is traced unless it is covered by a skip
pragma, is an ``@overload`` stub (``typing``/``typing_extensions`` or any decorator
whose last dotted part is ``overload``), or is already traced (a decorator resolving
to ``functrace.trace``). Lambdas are never traced (they are expressions).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "MODULE",
    "TRACE_DECORATOR",
    "Verdict",
    "choose_module_name",
    "class_is_skipped",
    "file_is_skipped",
    "is_skip_file_pragma",
    "is_skip_pragma",
    "judge_function",
    "qualify",
]

#: The module the rewritten code imports, and the decorator it applies.
MODULE = "functrace"
TRACE_DECORATOR = "functrace.trace"

_SKIP = re.compile(r"#\s*functrace:\s*skip(?![-\w])")
_SKIP_FILE = re.compile(r"#\s*functrace:\s*skip-file(?![-\w])")


class Verdict(str, enum.Enum):
    """What to do with one function, and why."""

    TRACE = "trace"
    ALREADY_TRACED = "already traced"
    OVERLOAD = "@overload stub"
    PRAGMA = "functrace: skip"


def is_skip_pragma(comment: str) -> bool:
    """True if ``comment`` (with its ``#``) holds ``functrace: skip``."""
    return _SKIP.search(comment) is not None


def is_skip_file_pragma(comment: str) -> bool:
    """True if ``comment`` (with its ``#``) holds ``functrace: skip-file``."""
    return _SKIP_FILE.search(comment) is not None


def file_is_skipped(source: str | bytes) -> bool:
    """True if the comment lines at the top of ``source`` hold ``functrace: skip-file``.

    Only the leading block of blank and comment lines is read (shebang, encoding
    cookie, licence...), so the text of a string literal never counts.
    """
    text = source.decode("latin-1") if isinstance(source, bytes) else source
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        end = size if end < 0 else end
        line = text[start:end].strip(" \t\f\r\ufeff")
        if line and not line.startswith("#"):
            return False
        if line and is_skip_file_pragma(line):
            return True
        start = end + 1
    return False


def qualify(dotted: str, aliases: Mapping[str, str]) -> str:
    """Resolve the first part of ``dotted`` through ``aliases`` (local name -> qualified).

    ``aliases`` maps what imports bind: ``{"t": "typing", "ov": "typing.overload",
    "trace": "functrace.trace"}``. Unknown names are returned as written.
    """
    head, dot, rest = dotted.partition(".")
    target = aliases.get(head)
    if target is None:
        return dotted
    return f"{target}{dot}{rest}"


def judge_function(decorators: Iterable[str], comments: Iterable[str] = ()) -> Verdict:
    """Decide for one ``def``, given its qualified decorator names and attached comments.

    A skip pragma on an enclosing function or class is the caller's to honour: it
    covers everything inside (see :func:`class_is_skipped`).
    """
    if any(is_skip_pragma(c) for c in comments):
        return Verdict.PRAGMA
    verdict = Verdict.TRACE
    for name in decorators:
        if name == TRACE_DECORATOR:
            return Verdict.ALREADY_TRACED
        if name.rpartition(".")[2] == "overload":
            verdict = Verdict.OVERLOAD
    return verdict


def class_is_skipped(comments: Iterable[str]) -> bool:
    """True if a class (and so everything in it) is covered by ``# functrace: skip``."""
    return any(is_skip_pragma(c) for c in comments)


def choose_module_name(is_taken: Callable[[str], bool]) -> str:
    """The name to import functrace under: ``functrace`` unless the module uses it for
    something else, then ``_functrace``, ``_functrace_1``, ... (first one free)."""
    if not is_taken(MODULE):
        return MODULE
    candidate, n = f"_{MODULE}", 0
    while is_taken(candidate):
        n += 1
        candidate = f"_{MODULE}_{n}"
    return candidate
