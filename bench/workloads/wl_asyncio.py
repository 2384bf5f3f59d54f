"""Workload: asyncio tasks, each fetching JSON documents and parsing them with the
pure-Python recursive-descent parser in asyncjson (the traced package)."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

PACKAGE = "asyncjson"
DOCS = 2000
TASKS = 40


def _record(rng: random.Random, depth: int = 0) -> Any:
    words = ["alpha", "beta", "gamma", 'quo"ted', "tab\there", "unicode \u00e9\u4e2d", "delta"]
    fields: dict[str, Any] = {
        "id": rng.randrange(10**6),
        "name": rng.choice(words) + str(rng.randrange(100)),
        "score": round(rng.uniform(-1000, 1000), 3),
        "active": rng.random() < 0.5,
        "parent": None,
        "tags": [rng.choice(words) for _ in range(rng.randrange(1, 6))],
    }
    if depth < 2:
        fields["children"] = [_record(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    return fields


def setup(scale: float) -> list[str]:
    rng = random.Random(20261203)
    indent = [None, 2]
    return [
        json.dumps(_record(rng), indent=indent[i % 2], ensure_ascii=i % 3 == 0)
        for i in range(max(4, int(DOCS * scale)))
    ]


def warm(docs: list[str]) -> object:
    import asyncjson

    assert asyncjson.loads(docs[0]) == json.loads(docs[0])
    return asyncio.run(asyncjson.run(docs[:4], 2))


def run(docs: list[str]) -> object:
    import asyncjson

    return asyncio.run(asyncjson.run(docs, TASKS))
