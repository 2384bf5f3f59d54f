"""A small recursive-descent JSON parser, and asyncio tasks that fetch documents and
parse them: the traced package of bench_macro.py's asyncio workload.

Pure Python on purpose (the stdlib's json is C): one method per grammar rule, the
shape of most hand-written parsers. ``loads(s) == json.loads(s)`` for the documents
the bench makes.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")
_PLAIN = re.compile(r'[^"\\]*')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_WHITESPACE = " \t\n\r"


class ParseError(ValueError):
    pass


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> Any:
        self.skip_ws()
        value = self.value()
        self.skip_ws()
        if self.pos != len(self.text):
            raise self.error("trailing data")
        return value

    def error(self, what: str) -> ParseError:
        return ParseError(f"{what} at offset {self.pos}")

    def skip_ws(self) -> None:
        text, pos, end = self.text, self.pos, len(self.text)
        while pos < end and text[pos] in _WHITESPACE:
            pos += 1
        self.pos = pos

    def expect(self, char: str) -> None:
        if self.text.startswith(char, self.pos):
            self.pos += 1
        else:
            raise self.error(f"expected {char!r}")

    def value(self) -> Any:
        if self.pos >= len(self.text):
            raise self.error("unexpected end")
        char = self.text[self.pos]
        if char == "{":
            return self.object()
        if char == "[":
            return self.array()
        if char == '"':
            return self.string()
        if char == "-" or char.isdigit():
            return self.number()
        return self.literal()

    def object(self) -> dict[str, Any]:
        self.expect("{")
        result: dict[str, Any] = {}
        self.skip_ws()
        if self.text.startswith("}", self.pos):
            self.pos += 1
            return result
        while True:
            self.skip_ws()
            key = self.string()
            self.skip_ws()
            self.expect(":")
            self.skip_ws()
            result[key] = self.value()
            self.skip_ws()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            self.expect("}")
            return result

    def array(self) -> list[Any]:
        self.expect("[")
        result: list[Any] = []
        self.skip_ws()
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return result
        while True:
            self.skip_ws()
            result.append(self.value())
            self.skip_ws()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            self.expect("]")
            return result

    def string(self) -> str:
        self.expect('"')
        parts = []
        while True:
            match = _PLAIN.match(self.text, self.pos)
            assert match is not None
            parts.append(match.group())
            self.pos = match.end()
            if self.pos >= len(self.text):
                raise self.error("unterminated string")
            if self.text[self.pos] == '"':
                self.pos += 1
                return "".join(parts)
            parts.append(self.escape())

    def escape(self) -> str:
        self.pos += 1  # the backslash
        char = self.text[self.pos : self.pos + 1]
        if char == "u":
            code = int(self.text[self.pos + 1 : self.pos + 5], 16)
            self.pos += 5
            return chr(code)
        if char not in _ESCAPES:
            raise self.error("bad escape")
        self.pos += 1
        return _ESCAPES[char]

    def number(self) -> int | float:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise self.error("bad number")
        self.pos = match.end()
        if match.group(1) or match.group(2):
            return float(match.group())
        return int(match.group())

    def literal(self) -> Any:
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return value
        raise self.error("unexpected character")


def loads(text: str) -> Any:
    return Parser(text).parse()


def count(value: Any) -> int:
    """The number of scalars in a parsed document."""
    if isinstance(value, dict):
        return sum(count(v) for v in value.values())
    if isinstance(value, list):
        return sum(count(v) for v in value)
    return 1


async def fetch(doc: str) -> str:
    await asyncio.sleep(0)  # stands in for I/O: every task gives way here
    return doc


async def worker(docs: list[str]) -> int:
    total = 0
    for doc in docs:
        text = await fetch(doc)
        total += count(loads(text))
    return total


async def run(docs: list[str], tasks: int) -> int:
    """Parse ``docs`` in ``tasks`` concurrent tasks; the number of scalars found."""
    shares = [docs[i::tasks] for i in range(tasks)]
    results = await asyncio.gather(*(worker(share) for share in shares))
    return sum(results)
