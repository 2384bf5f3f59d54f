"""Rich views of a :class:`~functrace.reading.Trace`: call trees and a per-function summary.

Only reads the data; imports rich, so the runtime never loads this package.
"""

from __future__ import annotations

from functrace.render.select import Selection
from functrace.render.summary import summarize, summary_table
from functrace.render.tree import render_trees, tree_for_tag

__all__ = ["Selection", "render_trees", "summarize", "summary_table", "tree_for_tag"]
