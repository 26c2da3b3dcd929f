"""Label selectors (=, ==, !=, in, notin, exists, !exists) and field selectors (=, ==, !=) as the
API server parses them; a malformed selector is a ValueError with the reason."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]
_SET = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")
# Field selectors the API server supports for every kind, plus the ones per kind that clients use.
FIELDS = {"metadata.name", "metadata.namespace"}
KIND_FIELDS = {"Pod": {"spec.nodeName", "status.phase", "spec.serviceAccountName"}, "Event": {"involvedObject.name",
               "involvedObject.kind", "involvedObject.namespace", "reason", "type"}, "Secret": {"type"},
               "Node": {"spec.unschedulable"}, "Job": {"status.successful"}}  # fmt: skip


def _requirements(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in (p.strip() for p in parts) if p]


def label_selector(text: str | None) -> Predicate:
    if not text:
        return lambda obj: True
    tests: list[Predicate] = []
    for requirement in _requirements(text):
        eq = _EQ.match(requirement)
        if eq:
            key, op, value = eq.groups()
            if op == "!=":
                tests.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                tests.append(lambda labels, k=key, v=value: labels.get(k) == v)
            continue
        match = _SET.match(requirement)
        if not match:
            raise ValueError(f"unable to parse requirement: {requirement!r}")
        negate, key, op, values = match.groups()
        if op:
            if negate:
                raise ValueError(f"unable to parse requirement: {requirement!r}")
            choices = {v.strip() for v in values.split(",") if v.strip()}
            if op == "in":
                tests.append(lambda labels, k=key, c=choices: labels.get(k) in c)
            else:
                tests.append(lambda labels, k=key, c=choices: labels.get(k) not in c)
        elif negate:
            tests.append(lambda labels, k=key: k not in labels)
        else:
            tests.append(lambda labels, k=key: k in labels)
    return lambda obj: all(t((obj.get("metadata") or {}).get("labels") or {}) for t in tests)


def _field(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, bool):
        return "true" if node else "false"
    return "" if node is None else str(node)


def field_selector(text: str | None, kind: str) -> Predicate:
    if not text:
        return lambda obj: True
    tests: list[Predicate] = []
    for requirement in _requirements(text):
        match = _EQ.match(requirement)
        if not match:
            raise ValueError(f"invalid field selector: {requirement!r}")
        path, op, value = match.groups()
        if path not in FIELDS | KIND_FIELDS.get(kind, set()):
            raise ValueError(f'field label not supported: "{path}"')
        if op == "!=":
            tests.append(lambda obj, p=path, v=value: _field(obj, p) != v)
        else:
            tests.append(lambda obj, p=path, v=value: _field(obj, p) == v)
    return lambda obj: all(t(obj) for t in tests)


def matches_label_selector(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector object (matchLabels, matchExpressions) against labels, as controllers use it."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], set(expr.get("values") or [])
        present = key in labels
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and present and labels[key] in values):
            return False
        if (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True
