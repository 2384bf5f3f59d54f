"""The speedscope schema, from the speedscope npm package (installed once, cached), and
the generated traces the compiled writers are checked on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.reading.test_fast_paths import program

_CACHE = Path(os.environ.get("FUNCTRACE_TEST_CACHE", Path.home() / ".cache" / "functrace-tests"))
_SCHEMA = (
    _CACHE / "npm" / "node_modules" / "speedscope" / "dist" / "release" / "file-format-schema.json"
)


@pytest.fixture(scope="session")
def speedscope_schema() -> dict[str, Any]:
    if not _SCHEMA.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: cannot fetch speedscope's file-format-schema.json")
        (_CACHE / "npm").mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(_CACHE / "npm"),
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "speedscope@1",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0 or not _SCHEMA.exists():
            pytest.skip(f"npm install speedscope failed: {result.stderr.strip()[-500:]}")
    schema: dict[str, Any] = json.loads(_SCHEMA.read_text(encoding="utf-8"))
    return schema


#: (noise, seed) of the generated traces.
GENERATED = [(0, 1), (0.05, 2), (0.3, 3)]


@pytest.fixture(
    params=[(fmt, noise, seed) for fmt in ("text", "jsonl") for noise, seed in GENERATED],
    ids=lambda p: "-".join(map(str, p)),
)
def generated_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A generated trace (test_fast_paths.program) of 3000 lines: text and jsonl, with
    no noise, a little and much."""
    fmt, noise, seed = request.param
    path = tmp_path / f"trace.{fmt}"
    path.write_text(program(seed, fmt, noise, 3000), encoding="utf-8")
    return path
