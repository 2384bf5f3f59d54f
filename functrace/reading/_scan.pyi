"""Types of the optional compiled reading loop (_scan.c)."""

from collections.abc import Callable
from typing import Any

API: int
#: The line grammar it reads: (INDENT, ENTER, EXIT) of functrace._runtime.lines.
GRAMMAR: tuple[str, str, str]

class Scanner:
    def __init__(
        self,
        stacks: dict[str, list[Any]],
        rows: dict[str, list[int]] | None = None,
        frame: type | None = None,
        opened: Callable[[Any], object] | None = None,
        closed: Callable[[Any], object] | None = None,
        jsonl: bool = False,
        known: dict[str, str] | None = None,
    ) -> None: ...
    def run(
        self, lines: list[str], index: int, clock: int, last: int, count: int, /
    ) -> tuple[int, int, int, int]: ...

def split(data: bytes, end: int, head: bytes, /) -> list[str] | None: ...
