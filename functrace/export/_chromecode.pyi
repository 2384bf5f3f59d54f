"""Types of the optional compiled chrome writer (_chromecode.c)."""

from typing import Any

API: int

class Coder:
    def __init__(self, writer: Any, frame: type, /) -> None: ...
    def opened(self, frame: Any, /) -> None: ...
    def closed(self, frame: Any, /) -> None: ...
