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
counts 2. The limit scales with the stack the process may use (``ulimit -s``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["MAX_COST", "MAX_DEPTH", "Measure", "depth_limit", "measure", "too_complex"]

#: Deepest expression (in the units of :func:`expression_depth`) given to libcst with
#: an 8 MiB stack. libcst crashes from about 3,500 nested ``lambda`` (7,000 units),
#: 6,900 chained ``+`` and 8,200 unary ``-`` or ``not``; the deepest in CPython's
#: standard library and a large set of site-packages is 2,215 (``pydoc_data/topics.py``:
#: implicitly concatenated strings), the next 562.
MAX_DEPTH = 3000

#: Largest :attr:`Measure.cost` given to libcst (at most about 200 MB): 1.7 GB for 3,000 nested
#: ``lambda`` (cost 9 million), 0.5 GB for 3,000 unary ``-`` (4.5 million).
MAX_COST = 1_000_000

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
_NO_LIMIT = 1 << 62
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


def too_complex(src: bytes, max_depth: int | None = None, max_cost: int = MAX_COST) -> str | None:
    """Why libcst must not be given ``src``, if its expressions nest too deeply or its
    nested prefix operators would need too much memory."""
    max_depth = depth_limit() if max_depth is None else max_depth
    if len(src) <= max_depth and len(src) * len(src) <= max_cost:  # a level takes a byte
        return None
    found = measure(src, max_depth, max_cost)
    if found.depth > max_depth:
        return f"cannot parse: expressions nested more than {max_depth} deep (too deep for libcst)"
    if found.cost > max_cost:
        return (
            "cannot parse: unary operators, not, lambda, await, ** or if-else nested "
            "too deeply for libcst's memory"
        )
    return None


class Measure(NamedTuple):
    #: The estimated depth of the deepest expression.
    depth: int
    #: Sum over chains of right-nested prefix operators and conditional expressions
    #: of n * (n + 1) / 2: libcst's memory grows with the square of their length.
    cost: int


def measure(src: bytes, max_depth: int = _NO_LIMIT, max_cost: int = _NO_LIMIT) -> Measure:
    """How deeply the expressions of ``src`` nest (brackets, operators, ``not``,
    ``lambda``, ``await``, conditional expressions, trailers, implicitly concatenated
    strings), and what their right-nested chains cost. Stops early once ``max_depth``
    or ``max_cost`` is exceeded."""
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
            entry[1] += add
            if _QUADRATIC[cls]:
                cost += entry[1]
        else:
            chain.append([cls, add])
            if _QUADRATIC[cls]:
                cost += add
        depth += add
        if outer + depth > deepest:
            deepest = outer + depth
            if deepest > max_depth:
                break
        if cost > max_cost:
            break
    return Measure(deepest, cost)
