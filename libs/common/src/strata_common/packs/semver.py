"""Strict semantic versions (MAJOR.MINOR.PATCH[-pre][+build]) and inclusive ranges with partial bounds."""

from __future__ import annotations

import re

SEMVER = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_BOUND = re.compile(r"^(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?(?:\.(0|[1-9][0-9]*))?$")


def is_semver(text: str) -> bool:
    return bool(SEMVER.fullmatch(text))


def parse(text: str) -> tuple[int, int, int]:
    """MAJOR, MINOR, PATCH of a strict semver (pre-release and build are ignored for ordering)."""
    match = SEMVER.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    return int(match[1]), int(match[2]), int(match[3])


def is_bound(text: str) -> bool:
    return bool(_BOUND.fullmatch(text))


def in_range(version: str, minimum: str | None, maximum: str | None) -> bool:
    """minimum <= version <= maximum; a partial bound such as "1.33" admits every 1.33.x."""
    v = parse(version)
    for bound, ok in ((minimum, lambda b, p: p >= b), (maximum, lambda b, p: p <= b)):
        if bound:
            parts = tuple(int(x) for x in bound.split("."))
            if not ok(parts, v[: len(parts)]):
                return False
    return True


def describe(minimum: str | None, maximum: str | None) -> str:
    if minimum and maximum:
        return f"between {minimum} and {maximum}"
    return f">= {minimum}" if minimum else f"<= {maximum}" if maximum else "any version"
