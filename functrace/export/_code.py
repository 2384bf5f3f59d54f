"""OpenTelemetry's ``code.*`` attributes for a call: one definition for every span exporter."""

from __future__ import annotations

__all__ = ["code_attributes", "value_attributes"]


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


def value_attributes(args: dict[str, str] | None, returned: str | None) -> dict[str, str]:
    """With ``FUNCTRACE_ARGS``: ``functrace.args.NAME`` per argument and
    ``functrace.return`` (OpenTelemetry has no ``code.*`` attribute for values)."""
    attributes = {f"functrace.args.{name}": text for name, text in (args or {}).items()}
    if returned is not None:
        attributes["functrace.return"] = returned
    return attributes
