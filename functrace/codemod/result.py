"""What rewriting one source produced: plain data that the CLI only renders."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Result", "Status"]


class Status(str, enum.Enum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # deliberately left alone, e.g. `# functrace: skip-file`
    FAILED = "failed"  # could not be rewritten; the file is left untouched


@dataclass(frozen=True)
class Result:
    """The outcome of one rewrite. Rewrites return one of these and never raise."""

    status: Status
    #: The rewritten bytes, only when ``status`` is CHANGED.
    output: bytes | None = None
    #: Functions decorated (instrument) or undecorated (strip).
    functions: int = 0
    #: Why the source was skipped or failed, without the location.
    message: str = ""
    line: int | None = None
    column: int | None = None

    @classmethod
    def changed(cls, output: bytes, functions: int) -> Result:
        return cls(Status.CHANGED, output, functions)

    @classmethod
    def unchanged(cls) -> Result:
        return cls(Status.UNCHANGED)

    @classmethod
    def skipped(cls, reason: str) -> Result:
        return cls(Status.SKIPPED, message=reason)

    @classmethod
    def failed(cls, message: str, line: int | None = None, column: int | None = None) -> Result:
        return cls(Status.FAILED, message=message, line=line, column=column)

    def describe(self, path: str) -> str:
        """``path:line:col: message`` (the location parts only when known)."""
        where = path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}" if self.message else where

    def without_output(self) -> Result:
        """The same result without the rewritten bytes (cheap to send between processes)."""
        return Result(self.status, None, self.functions, self.message, self.line, self.column)
