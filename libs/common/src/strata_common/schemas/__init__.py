"""marshmallow schemas shared by the API and the workers: one truth for validation."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validate


class Pattern(validate.Regexp):
    """A pattern the whole value must match. Python's `$` also matches before a final newline and `\\d` any
    Unicode digit; with `fullmatch` and ASCII classes the pattern means here what it means to a client
    reading it in the OpenAPI document (ECMA regular expressions)."""

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested error dict as {"a.b.0.c": "message"}."""
    flat: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix and key != "_schema" else (prefix or str(key))
            flat.update(flatten_errors(value, path))
    elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        flat[prefix or "_schema"] = " ".join(messages)
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            flat.update(flatten_errors(value, f"{prefix}.{i}" if prefix else str(i)))
    else:
        flat[prefix or "_schema"] = str(messages)
    return flat


__all__ = ["Pattern", "ValidationError", "flatten_errors"]
