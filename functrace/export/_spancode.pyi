"""Types of the optional compiled span writer (_spancode.c)."""

from typing import Any

API: int

class Coder:
    def __init__(
        self, writer: Any, frame: type, span: type, zipkin: bool, jstr: Any, /
    ) -> None: ...
    def opened(self, frame: Any, /) -> None: ...
    def closed(self, frame: Any, /) -> None: ...
    def write(
        self, span: Any, span_id: str, parent_id: str, runs: int, unfinished: bool, /
    ) -> None: ...

def place(text: str, offset: int, table: list[str], /) -> str | None: ...
