"""Trees and the summary, rendered without colour at width 80."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console

from functrace.cli.show import command as show
from functrace.reading import read_trace_text
from functrace.render import Selection, render_trees, summary_table

TEXT = """\
t[01]:    ->app.main
t[01]:        ->app.load
t[01]:        <-app.load 1.00ms
t[01]:        ->app.gen
t[01]:        <-app.gen 2.00µs yield
t[01]:        ->app.gen resume
t[01]:            ->app.parse
t[01]:            <-app.parse 1.00µs
t[01]:        <-app.gen 3.00µs !ValueError
t[01]:    <-app.main 2.00ms
t[01]a[02]:    ->app.task
t[01]a[02]:        ->app.load
"""


def render(renderable: object) -> str:
    console = Console(file=StringIO(), width=80, color_system=None)
    console.print(renderable)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in out.splitlines()) + "\n"


def test_trees_per_tag_with_open_calls_marked() -> None:
    assert (
        render(render_trees(read_trace_text(TEXT)))
        == """\
t[01]
└── app.main 2.00ms
    ├── app.load 1.00ms
    ├── app.gen 2.00µs yield
    └── app.gen resume 3.00µs !ValueError
        └── app.parse 1.00µs
t[01]a[02]
└── app.task … unfinished
    └── app.load … unfinished
"""
    )


def test_selection_by_tag_name_duration_and_depth() -> None:
    trace = read_trace_text(TEXT)
    assert render(render_trees(trace, Selection(tags=("t[01]a[02]",)))).startswith("t[01]a[02]\n")
    assert render(render_trees(trace, Selection(tags=("t[01]",)))).count("t[01]") == 2
    assert (
        render(render_trees(trace, Selection(name="parse")))
        == """\
t[01]
└── app.main 2.00ms
    └── app.gen resume 3.00µs !ValueError
        └── app.parse 1.00µs
"""
    )
    assert (
        render(render_trees(trace, Selection(min_duration_ns=500_000, max_depth=2)))
        == """\
t[01]
└── app.main 2.00ms
    ├── app.load 1.00ms
    └── app.gen resume 3.00µs !ValueError
t[01]a[02]
└── app.task … unfinished
    └── app.load … unfinished
"""
    )


def test_summary_sorted_by_own_time() -> None:
    assert (
        render(summary_table(read_trace_text(TEXT)))
        == """\
 function  ┃            calls ┃  total ┃    own ┃    max
━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━╇━━━━━━━━
 app.load  │ 2 (1 unfinished) │ 1.00ms │ 1.00ms │ 1.00ms
 app.main  │                1 │ 2.00ms │  995µs │ 2.00ms
 app.gen   │                1 │ 5.00µs │ 4.00µs │ 3.00µs
 app.parse │                1 │ 1.00µs │ 1.00µs │ 1.00µs
 app.task  │ 1 (1 unfinished) │    0ns │    0ns │    0ns
"""
    )


def test_show_command(tmp_path: Path) -> None:
    path = tmp_path / "trace.log"
    path.write_text(TEXT, encoding="utf-8")
    result = CliRunner().invoke(show, [str(path), "--max-depth", "1"])
    assert result.exit_code == 0, result.output
    assert "app.main 2.00ms" in result.output and "app.load" not in result.output.split("t[01]a")[0]
    assert "2 call(s) never finished" in result.output
    result = CliRunner().invoke(show, [str(path), "--summary", "--name", "app.gen"])
    assert result.exit_code == 0 and "app.gen" in result.output and "app.load" not in result.output
    result = CliRunner().invoke(show, [str(path), "--min-duration", "soon"])
    assert result.exit_code == 2
    empty = tmp_path / "empty.log"
    empty.write_text("nothing traced\n", encoding="utf-8")
    assert CliRunner().invoke(show, [str(empty)]).exit_code == 1
