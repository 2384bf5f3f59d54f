"""Types of the optional compiled text summary loop (_scan.c)."""

from typing import Any

API: int

class Scanner:
    def __init__(self, light: dict[str, list[list[Any]]], rows: dict[str, list[int]]) -> None: ...
    def run(
        self, lines: list[str], index: int, clock: int, count: int, /
    ) -> tuple[int, int, int]: ...
