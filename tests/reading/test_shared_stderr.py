"""A trace on a stderr the program shares: the program's own unfinished text (a
progress bar without a newline) joins the next trace line, which must still count."""

from __future__ import annotations

from functrace.reading import read_trace_text

GLUED = (
    "t[01]:    ->app.f\n"
    "t[01]:    <-app.f 2.00ms\n"
    "downloading 50%t[01]:    ->app.h\n"
    "t[01]:        ->app.i\n"
    "t[01]:        <-app.i 1.00µs\n"
    "t[01]:    <-app.h 3.00µs\n"
)


def test_a_trace_line_joined_to_the_programs_text_is_read() -> None:
    trace = read_trace_text(GLUED)
    assert [root.name for root in trace.roots] == ["app.f", "app.h"]
    assert [child.name for child in trace.roots[1].children] == ["app.i"]
    assert trace.problems == [] and trace.skipped_lines == 0


def test_text_that_merely_contains_a_tag_is_not_a_trace_line() -> None:
    text = "t[01]:    ->app.f\nsee x.t[01]:    ->app.g\nt[01]:    <-app.f 2.00ms\n"
    trace = read_trace_text(text)
    assert [root.name for root in trace.roots] == ["app.f"]
    assert trace.roots[0].children == []
