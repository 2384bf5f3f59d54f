"""How deeply expressions nest, estimated from the bytes before libcst sees them.

libcst's native parser recurses once per level of the tree it builds, and its stack
is the process's: past a few thousand levels it overflows and the process dies with
SIGSEGV, no exception, no message. Brackets are only one way to nest; chained binary
operators (``1 + 1 + ...`` nests to the left), unary operators, ``not``, ``lambda``,
``await``, conditional expressions, attribute/call/subscript chains and implicitly
concatenated strings nest as well. :func:`expression_depth` follows the tokens of the
file (a regular expression, no ``tokenize``) and estimates the depth of the deepest
expression, operator precedence included, so that ``a*b + c*d + e*f`` counts 3, not
5. It never understates the depth of valid Python; it may overstate it.

A level of ``lambda`` costs the parser about twice the stack of an operator, so it
counts 2. The depth limit scales with the stack the process may use (``ulimit -s``).

Depth is not all: libcst's memory grows with the square of the length of right-nested
chains (``- - - x``, ``lambda: lambda: ...``) and of bracket depth, and its time with
the square of long left-nested chains, so the same scan also sums those costs over
the file and :data:`LIMITS` caps them. None of 33,706 files of CPython's standard
libraries, their site-packages and the Google Cloud SDK is refused.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

__all__ = ["LIMITS", "MAX_DEPTH", "Measure", "depth_limit", "measure", "too_complex"]

#: Deepest expression (in the units of :func:`expression_depth`) given to libcst with
#: an 8 MiB stack. libcst crashes from about 3,500 nested ``lambda`` (7,000 units),
#: 6,900 chained ``+`` and 8,200 unary ``-`` or ``not``; the deepest in CPython's
#: standard library and a large set of site-packages is 2,215 (``pydoc_data/topics.py``:
#: implicitly concatenated strings), the next 562.
MAX_DEPTH = 3000


_REFERENCE_STACK = 8 * 1024 * 1024

_STRING = (
    rb"[rRbBuUfFtT]{0,2}(?:"
    rb"'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''"
    rb'|"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*"""'
    rb"|'[^'\\\r\n]*(?:\\.[^'\\\r\n]*)*'"
    rb'|"[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*"'
    rb")"
)
_TOKEN = re.compile(
    rb"(" + _STRING + rb")"  # 1: a string
    rb"|([A-Za-z_\x80-\xff][\w\x80-\xff]*)"  # 2: a name or keyword
    rb"|(\d\w*(?:\.(?!\.)\w*)?(?:(?<=[eE])[-+]\d\w*)?|\.\d\w*)"  # 3: a number
    rb"|(\*\*|//|<<|>>|\.\.\.|[-+*/%@&|^~<>.]|[!=<>]=)(?!=)"  # 4: an operator
    rb"|([(\[{])"  # 5
    rb"|([)\]}])"  # 6
    rb"|([,;]|\r?\n|\r)"  # 7: item and line ends
    rb"|((?:\*\*|//|<<|>>|[-+*/%@&|^:<>!])?=|->|:)"  # 8: assignments, colons
    rb"|#[^\r\n]*|\\\r?\n",  # comments and line continuations: nothing
    re.DOTALL,
)

# Precedence classes, loosest first. A binary operator of class c ends the operands
# of the tighter classes before it; prefix operators only add.
(
    _LAMBDA,
    _IF,
    _OR,
    _AND,
    _NOT,
    _CMP,
    _BOR,
    _XOR,
    _BAND,
    _SHIFT,
    _ARITH,
    _TERM,
    _UNARY,
    _POW,
    _AWAIT,
    _PRIMARY,
) = range(16)

_BINARY: dict[bytes, int] = {
    b"|": _BOR,
    b"^": _XOR,
    b"&": _BAND,
    b"<<": _SHIFT,
    b">>": _SHIFT,
    b"+": _ARITH,
    b"-": _ARITH,
    b"*": _TERM,
    b"/": _TERM,
    b"//": _TERM,
    b"%": _TERM,
    b"@": _TERM,
    b"**": _POW,
    b"<": _CMP,
    b">": _CMP,
    b"==": _CMP,
    b"!=": _CMP,
    b"<=": _CMP,
    b">=": _CMP,
}
# Comparisons are flat in libcst (one node for ``a < b < c``): they end tighter
# operands but add nothing. ``else`` ends operands; ``if`` also nests.
_BINARY_WORDS: dict[bytes, int] = {
    b"or": _OR,
    b"and": _AND,
    b"if": _IF,
    b"else": _IF,
    b"in": _CMP,
    b"is": _CMP,
}
_PREFIX_WORDS: dict[bytes, tuple[int, int]] = {
    b"not": (_NOT, 1),
    b"lambda": (_LAMBDA, 2),
    b"await": (_AWAIT, 1),
}
# Keywords after which an operator is a prefix one (``return -x``).
_NOT_OPERANDS = frozenset(
    b"as assert async del elif except for from global import nonlocal raise return "
    b"while with yield".split()
)
# Whose chains cost libcst memory quadratic in their length.
_QUADRATIC = tuple(cls in (_LAMBDA, _IF, _NOT, _UNARY, _POW, _AWAIT) for cls in range(_PRIMARY + 1))
_FIELD = re.compile(rb"\{[^{}]*")
_FIELD_NESTING = re.compile(
    rb"[-+*/%@&|^~<>!.]|(?<![\w\x80-\xff])(?:not|lambda|and|or|if|await)(?![\w\x80-\xff])"
)


def depth_limit() -> int:
    """:data:`MAX_DEPTH`, scaled down when the stack is smaller than 8 MiB."""
    try:
        import resource
    except ImportError:  # not on this system
        return MAX_DEPTH
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft >= _REFERENCE_STACK:
        return MAX_DEPTH
    return max(100, MAX_DEPTH * soft // _REFERENCE_STACK)


class Measure(NamedTuple):
    #: The estimated depth of the deepest expression.
    depth: int
    #: Sum over chains of right-nested prefix operators and conditional expressions
    #: of n * (n - 1) / 2 (a lambda counting 2): libcst's memory grows with the square
    #: of their length.
    cost: int
    #: Sum over opening brackets of how many brackets are open: libcst's memory grows
    #: with the square of their depth (about 4 KB a unit for nested calls).
    brackets: int
    #: Sum over nesting steps of how far past 100 deep they go: libcst's time grows
    #: with the square of long chains (about 1 microsecond a unit).
    spread: int


_SPREAD_FROM = 100

#: What libcst is given at most. libcst dies of a stack overflow from about 3,500
#: nested ``lambda`` (depth 7,000), 6,900 chained ``+``, 8,200 unary ``-`` or ``not``;
#: the deepest in CPython's standard library and a large set of site-packages is
#: 2,215 (``pydoc_data/topics.py``: implicitly concatenated strings). Cost: 3,000
#: nested ``lambda`` (9 million) take 1.7 GB, 3,000 unary ``-`` (4.5 million) 0.5 GB.
#: Brackets: 2 MiB of lines nested 190 deep took 23 GB; nested calls take about 4 KB
#: a unit; the most found in a real file is 48,000. Spread: a chain of 2,900 ``+``
#: (3.9 million) takes 4 s to parse; ``topics.py`` has 5.8 million.
LIMITS = Measure(depth=MAX_DEPTH, cost=1_000_000, brackets=500_000, spread=20_000_000)

_NO_LIMITS = Measure(*[1 << 62] * 4)


def too_complex(src: bytes, limits: Measure | None = None) -> str | None:
    """Why libcst must not be given ``src``, if its expressions nest too deeply or
    would cost too much memory or time (see :data:`LIMITS`)."""
    if limits is None:
        limits = LIMITS._replace(depth=depth_limit())
    small = min(limits.depth, math.isqrt(2 * min(limits.cost, limits.brackets, limits.spread)))
    if len(src) <= small:  # a level takes a byte at least
        return None
    found = measure(src, limits)
    if found.depth > limits.depth:
        return (
            f"cannot parse: expressions nested more than {limits.depth} deep (too deep for libcst)"
        )
    if found.cost > limits.cost:
        return (
            "cannot parse: unary operators, not, lambda, await, ** or if-else nested "
            "too deeply for libcst's memory"
        )
    if found.brackets > limits.brackets:
        return "cannot parse: brackets nested deeply too often for libcst's memory"
    if found.spread > limits.spread:
        return "cannot parse: too many very long chains of operators or strings for libcst's time"
    return None


def measure(src: bytes, limits: Measure = _NO_LIMITS) -> Measure:
    """How deeply the expressions of ``src`` nest (brackets, operators, ``not``,
    ``lambda``, ``await``, conditional expressions, trailers, implicitly concatenated
    strings), and what they cost (see :class:`Measure`). Stops early once one of
    ``limits`` is exceeded."""
    max_depth, max_cost, max_brackets, max_spread = limits
    brackets = spread = 0
    deepest = 0
    cost = 0
    outer = 0  # the depth of the enclosing brackets
    depth = 0  # the depth within the current item (between commas)
    chain: list[list[int]] = []  # [class, count] pairs of the current item, tightest last
    levels: list[tuple[int, int, list[list[int]]]] = []
    operand = False  # whether the previous token ends an operand
    for match in _TOKEN.finditer(src):
        kind = match.lastindex
        if kind is None:
            continue
        cls = _PRIMARY
        add = 1
        if kind == 2:
            word = match.group(2)
            binary = _BINARY_WORDS.get(word)
            if binary is not None:
                while chain and chain[-1][0] > binary:
                    depth -= chain.pop()[1]
                operand = False
                if word != b"if":
                    continue
                cls = binary
            else:
                prefix = _PREFIX_WORDS.get(word)
                if prefix is None:
                    operand = word not in _NOT_OPERANDS
                    continue
                cls, add = prefix
                operand = False
        elif kind == 1 or kind == 3:
            was_operand = operand
            operand = True
            if kind == 3:
                continue
            text = match.group(1)
            if b"{" in text and b"f" in text[:2].lower():  # f-string fields are parsed
                body = text.replace(b"{{", b"").replace(b"}}", b"")
                fields = sum(len(_FIELD_NESTING.findall(f)) for f in _FIELD.findall(body))
                add = fields + was_operand
            elif not was_operand:
                continue
            if not add:
                continue
        elif kind == 4:
            op = match.group(4)
            if op == b"...":
                operand = True
                continue
            if op != b".":
                binary = _BINARY.get(op, _UNARY) if operand else _UNARY  # `~` is never binary
                if binary != _UNARY:
                    while chain and chain[-1][0] > binary:
                        depth -= chain.pop()[1]
                    if binary == _CMP:
                        operand = False
                        continue
                cls = binary
            operand = False
        elif kind == 5:
            if operand:  # a call or a subscript
                if chain and chain[-1][0] == _PRIMARY:
                    chain[-1][1] += 1
                else:
                    chain.append([_PRIMARY, 1])
                depth += 1
            levels.append((outer, depth, chain))
            brackets += len(levels)
            if brackets > max_brackets:
                break
            outer += depth + 1
            depth = 0
            chain = []
            operand = False
            if outer > deepest:
                deepest = outer
                if deepest > max_depth:
                    break
            continue
        elif kind == 6:
            if levels:
                outer, depth, chain = levels.pop()
            operand = True
            continue
        elif kind == 7:
            end = match.group(7)
            if end == b"," or end == b";" or not levels:
                depth = 0
                chain = []
                operand = False
            continue
        else:  # 8
            operand = False
            continue
        if chain and chain[-1][0] == cls:
            entry = chain[-1]
            if _QUADRATIC[cls]:
                cost += entry[1]
            entry[1] += add
        else:
            chain.append([cls, add])
        depth += add
        total = outer + depth
        if total > _SPREAD_FROM:
            spread += total - _SPREAD_FROM
            if spread > max_spread:
                break
        if total > deepest:
            deepest = total
            if deepest > max_depth:
                break
        if cost > max_cost:
            break
    return Measure(deepest, cost, brackets, spread)
