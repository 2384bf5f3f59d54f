"""strip(instrument(x)) == x, idempotency and "every function traced" over every
``.py`` file of the running Python's standard library (site-packages excluded)."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from ..codemod.roundtrip import check_round_trip

_LIB = Path(sysconfig.get_paths()["stdlib"])
_FILES = sorted(p for p in _LIB.rglob("*.py") if "site-packages" not in p.parts)


@pytest.mark.slow
@pytest.mark.parametrize("path", _FILES, ids=lambda p: str(p.relative_to(_LIB)))
def test_stdlib_file(path: Path) -> None:
    check_round_trip(path.read_bytes(), str(path))
