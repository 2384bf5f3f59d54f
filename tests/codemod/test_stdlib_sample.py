"""The round trip on a deterministic sample of this Python's standard library (the
whole of it runs in the ``stdlib-roundtrip`` nox session), plus synthetic files with
the byte-level oddities the stdlib lacks."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

from functrace.codemod import Status

from .roundtrip import check_round_trip

_LIB = Path(sysconfig.get_paths()["stdlib"])


def _sample(count: int = 30) -> list[Path]:
    files = sorted(p for p in _LIB.glob("*.py") if p.stat().st_size < 60_000)
    step = max(1, len(files) // count)
    chosen = files[::step][:count]
    for must in ("webbrowser.py",):  # libcst does not round-trip it exactly
        if (_LIB / must).exists() and _LIB / must not in chosen:
            chosen.append(_LIB / must)
    return chosen


@pytest.mark.parametrize("path", _sample(), ids=lambda p: p.name)
def test_stdlib_sample(path: Path) -> None:
    check_round_trip(path.read_bytes(), str(path))


SYNTHETIC = {
    "crlf_tabs_latin1_no_final_newline": (
        b"# -*- coding: latin-1 -*-\r\n'''Doc \xe9.'''\r\nclass A:\r\n\t@property\r\n"
        b"\tdef p(self):\r\n\t\treturn '\xe9'\r\n\r\n\tasync def a(self):\r\n\t\tpass"
    ),
    "cr_only": b"def f():\r    def g(): pass\r    return g\r",
    "bom_and_future": (
        b"\xef\xbb\xbf'''Doc.'''\nfrom __future__ import annotations\ndef f(): pass\n"
    ),
    "webbrowser_style_except": (
        b"def f():\n    try:\n        pass\n    except (OSError, ValueError) :\n        pass\n"
    ),
    "clashing_name": b"functrace = 1\nclass C:\n    def m(self, functrace): pass\n",
    "deep_nesting": b"".join(b"    " * i + f"def f{i}():\n".encode() for i in range(50))
    + b"    " * 50
    + b"pass\n",
}


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic(name: str) -> None:
    assert check_round_trip(SYNTHETIC[name], name) is Status.CHANGED


def test_sample_is_deterministic_and_holds_webbrowser() -> None:
    sample = _sample()
    assert sample == _sample()
    assert len(sample) >= 25
    assert any(p.name == "webbrowser.py" for p in sample) or not (_LIB / "webbrowser.py").exists()
    assert all(os.sep in str(p) for p in sample)
