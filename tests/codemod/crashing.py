"""A transform that kills its process on sources containing ``CRASH``, standing in for
a crash in libcst's native parser (tests of the worker pool)."""

from __future__ import annotations

import os
import signal

from functrace.codemod import Result, parallel

# Registered on import: workers come from a forkserver that imports this module
# (the transform's own), not from a copy of the test's process.
parallel.TRANSFORMS["crashing"] = f"{__name__}:transform"


def transform(src: bytes) -> Result:
    if b"CRASH" in src:
        os.kill(os.getpid(), signal.SIGSEGV)
    if b"EXIT" in src:
        os._exit(3)
    return Result.changed(src + b"# seen\n", 1)
