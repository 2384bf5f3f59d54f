"""``functrace diff``: the first place each tag's calls differ, and what changed most."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from functrace.cli import main
from functrace.render.diff import compare

PASSING = """\
t[01]:    ->app.main
t[01]:        ->app.fetch
t[01]:            ->app.parse
t[01]:            <-app.parse 1.00µs
t[01]:        <-app.fetch 3.00µs
t[01]:        ->app.fetch
t[01]:            ->app.parse
t[01]:            <-app.parse 1.00µs
t[01]:        <-app.fetch 3.00µs
t[01]:    <-app.main 10.0µs
t[02]:    ->app.poll
t[02]:    <-app.poll 1.00µs
"""

FAILING = """\
t[01]:    ->app.main
t[01]:        ->app.fetch
t[01]:            ->app.parse
t[01]:            <-app.parse 1.00µs
t[01]:        <-app.fetch 3.00µs
t[02]:    ->app.poll
t[02]:    <-app.poll 1.00µs
t[01]:        ->app.fetch
t[01]:            ->app.parse
t[01]:            <-app.parse 1.00µs !ValueError
t[01]:            ->app.retry
t[01]:            <-app.retry 1.00µs
t[01]:        <-app.fetch 3.00µs
t[01]:    <-app.main 10.0µs
t[03]:    ->app.late
t[03]:    <-app.late 1.00µs
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_diff_prints_the_first_difference_with_its_chain(tmp_path: Path) -> None:
    a, b = write(tmp_path, "a.log", PASSING), write(tmp_path, "b.log", FAILING)
    result = CliRunner().invoke(main, ["diff", a, b], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stdout == (
        "t[01]: the call trees differ at event 8\n"
        "    app.main\n"
        "        app.fetch\n"
        "            A: app.parse returned\n"
        "            B: app.parse !ValueError\n"
        "t[02]: same calls (1 call)\n"
        "t[03]: only in B (1 call)\n"
        "\n"
        "functions whose calls or total time changed most:\n"
        "  function   calls A  calls B  total A  total B\n"
        "  app.late         0        1      0ns   1.00µs\n"
        "  app.retry        0        1      0ns   1.00µs\n"
    )


def test_same_runs_exit_zero(tmp_path: Path) -> None:
    a, b = write(tmp_path, "a.log", PASSING), write(tmp_path, "b.log", PASSING)
    result = CliRunner().invoke(main, ["diff", a, b], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == "t[01]: same calls (5 calls)\nt[02]: same calls (1 call)\n"


def test_the_difference_is_found_past_many_equal_blocks(tmp_path: Path) -> None:
    """The hashes agree block after block; only the block that differs is read again."""
    same = "".join(
        f"t[01]:    ->app.f{i % 7}\nt[01]:    <-app.f{i % 7} 1.00µs\n" for i in range(3000)
    )
    a = write(tmp_path, "a.log", same + "t[01]:    ->app.x\nt[01]:    <-app.x 1.00µs\n")
    b = write(tmp_path, "b.log", same + "t[01]:    ->app.y\nt[01]:    <-app.y 1.00µs\n")
    (tag,) = compare(a, b, block=64).tags
    assert tag.difference is not None and tag.difference.index == 6000
    assert tag.difference.a == ("->", 1, "app.x", "") and tag.difference.b == ("->", 1, "app.y", "")
    assert tag.difference.chain == ()
    shorter = write(tmp_path, "c.log", same)
    (tag,) = compare(a, shorter, block=64).tags
    assert tag.difference is not None and tag.difference.b is None
