"""End-to-end checks against real viewers and back ends: run only by their nox sessions.

``FUNCTRACE_E2E=phoenix`` (nox -s otel-e2e) or ``FUNCTRACE_E2E=browser``
(nox -s browser) selects them; the default test run skips this folder.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = set(filter(None, os.environ.get("FUNCTRACE_E2E", "").split(",")))
    for item in items:
        kind = item.path.stem.removeprefix("test_")
        if item.path.parent.name == "e2e" and kind not in selected:
            item.add_marker(
                pytest.mark.skip(reason=f"end-to-end: set FUNCTRACE_E2E={kind} (nox session)")
            )
