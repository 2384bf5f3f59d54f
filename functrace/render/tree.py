"""One rich tree per thread and task::

t[01]a[03]
├── app.handle 59.4µs
│   └── app.fetch 42.2µs !TimeoutError
└── app.poll … unfinished
"""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.text import Text
from rich.tree import Tree

from functrace._runtime.lines import format_duration
from functrace._runtime.record import Call
from functrace.reading.trace import Trace
from functrace.render.select import Selection

__all__ = ["call_label", "render_trees", "tree_for_tag"]


def call_label(call: Call) -> Text:
    label = Text(call.name, style="bold" if call.exception else "")
    if call.resumed:
        label.append(" resume", style="dim")
    duration = call.duration_ns
    if duration is None:
        label.append(" … unfinished", style="yellow")
        return label
    label.append(" " + format_duration(duration), style="cyan")
    if call.exception is not None:
        label.append(" !" + call.exception, style="bold red")
    elif call.suspended is not None:
        label.append(" " + call.suspended, style="dim")
    return label


def tree_for_tag(tag: str, roots: list[Call], selection: Selection, thread_name: str = "") -> Tree:
    title = Text(tag, style="bold magenta")
    if thread_name:
        title.append(f" {thread_name}", style="dim")
    tree = Tree(title, guide_style="dim")
    stack: list[tuple[Tree, Call, int]] = [(tree, r, 1) for r in reversed(roots)]
    while stack:
        parent, call, depth = stack.pop()
        node = parent.add(call_label(call))
        stack.extend((node, c, depth + 1) for c in reversed(selection.children(call, depth)))
    return tree


def render_trees(trace: Trace, selection: Selection | None = None) -> RenderableType:
    """Every shown tag's tree, in order of first appearance."""
    selection = selection or Selection()
    trees = [
        tree_for_tag(tag, roots, selection, trace.thread_names.get(tag, ""))
        for tag, roots in selection.roots(trace).items()
    ]
    return Group(*trees)


def print_trees(console: Console, trace: Trace, selection: Selection | None = None) -> None:
    console.print(render_trees(trace, selection))
