"""Modules imported before the hook: traced after the fact on every Python (3.10/3.11:
wrapped in place), and those that cannot be named in a notice that never raises."""

from __future__ import annotations

import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import functrace

EARLY = """
    def helper(x):
        return x + 1

    def api(x):
        return helper(x) * 2

    alias = api

    def quiet():  # functrace: skip
        return 0

    class Shape:
        def area(self):
            return self.side() ** 2

        def side(self):
            return 3

        @staticmethod
        def unit():
            return 1

        @classmethod
        def make(cls):
            return cls()

        @property
        def size(self):
            return 5

        class Inner:
            def deep(self):
                return 7
"""


@pytest.fixture
def early(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "early_pkg").mkdir()
    (tmp_path / "early_pkg" / "__init__.py").write_text("")
    (tmp_path / "early_pkg" / "mod.py").write_text(textwrap.dedent(EARLY))
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("early_pkg")]:
            del sys.modules[name]


def test_traced_after_the_fact(early: Path, trace_lines: Callable[[], list[str]]) -> None:
    import early_pkg.mod as mod

    hook = functrace.install_import_hook(["early_pkg", "early_pkg.*"])
    try:
        assert hook.traced_before == ["early_pkg", "early_pkg.mod"]
        assert hook.untraced == []
        assert mod.alias(1) == 4
        assert mod.quiet() == 0
        shape = mod.Shape.make()
        assert (shape.area(), shape.unit(), shape.size, mod.Shape.Inner().deep()) == (9, 1, 5, 7)
    finally:
        hook.uninstall()
    calls = [line.split()[1] for line in trace_lines() if "->" in line]
    assert calls == [
        "->early_pkg.mod.api",
        "->early_pkg.mod.helper",
        "->early_pkg.mod.Shape.make",
        "->early_pkg.mod.Shape.area",
        "->early_pkg.mod.Shape.side",
        "->early_pkg.mod.Shape.unit",
        "->early_pkg.mod.Shape.size",
        "->early_pkg.mod.Shape.Inner.deep",
    ]
    assert mod.alias is mod.api  # one wrapper for both names (3.10/3.11)


def test_untraceable_named_in_a_notice_that_never_raises(
    early: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import early_pkg.mod  # noqa: F401

    (early / "early_pkg" / "mod.py").unlink()  # no source left to trace it from
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as pytest's filterwarnings = error
        functrace.install_import_hook(["early_pkg.*"]).uninstall()
        quiet = functrace.install_import_hook(["early_pkg.*"], warn=False)
        quiet.uninstall()
    assert quiet.untraced == ["early_pkg.mod"] and quiet.traced_before == []
    err = capfd.readouterr().err
    assert err == "functrace: already imported, so not traced: early_pkg.mod\n"
