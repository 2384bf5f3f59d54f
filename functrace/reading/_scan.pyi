"""Types of the optional compiled text summary loop (_scan.c)."""

from collections.abc import Callable
from typing import Any

API: int

class Scanner:
    def __init__(
        self,
        light: dict[str, list[list[Any]]],
        rows: dict[str, list[int]] | None = None,
        datas: dict[str, dict[str, Any]] | None = None,
        on_exit: Callable[[list[Any], int, int, str | None, str | None], object] | None = None,
    ) -> None: ...
    def run(
        self, lines: list[str], index: int, clock: int, count: int, /
    ) -> tuple[int, int, int]: ...
