"""OpenTelemetry's ``code.*`` attributes for a call: one definition for every span exporter."""

from __future__ import annotations

__all__ = ["code_attributes"]


def code_attributes(name: str, file: str, line: int) -> dict[str, str | int]:
    """``code.function``/``code.namespace`` from ``module.Class.method``, and file/line."""
    namespace, _, function = name.rpartition(".")
    attributes: dict[str, str | int] = {"code.function": function}
    if namespace:
        attributes["code.namespace"] = namespace
    if file:
        attributes["code.filepath"] = file
        attributes["code.lineno"] = line
    return attributes
