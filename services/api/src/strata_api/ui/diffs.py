"""Two profile revisions side by side: per pack that changed, its versions and its values' lines paired
(equal, changed, added, removed), as the console shows an update's or a profile's diff."""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any


def side_by_side(old: str, new: str) -> list[tuple[str, str, str]]:
    """(kind, left, right) rows of two texts' lines; kind is equal, changed, removed or added."""
    left, right = old.splitlines(), new.splitlines()
    rows: list[tuple[str, str, str]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=left, b=right, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [("equal", a, b) for a, b in zip(left[i1:i2], right[j1:j2], strict=True)]
            continue
        olds, news = left[i1:i2], right[j1:j2]
        for k in range(max(len(olds), len(news))):
            a, b = (olds[k] if k < len(olds) else None), (news[k] if k < len(news) else None)
            kind = "changed" if a is not None and b is not None else ("removed" if b is None else "added")
            rows.append((kind, a or "", b or ""))
    return rows


def layer_diff(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The packs whose version or values differ between revision views `old` and `new`, in `new`'s order
    (then those `new` dropped)."""
    before = {layer["pack"]: layer for layer in old["layers"]}
    after = {layer["pack"]: layer for layer in new["layers"]}
    changed = []
    for pack in [*after, *(p for p in before if p not in after)]:
        a, b = before.get(pack), after.get(pack)
        if a and b and (a["version"], a["values"]) == (b["version"], b["values"]):
            continue
        changed.append({"pack": pack, "change": "changed" if a and b else ("added" if b else "removed"),
                        "fromVersion": a and a["version"], "toVersion": b and b["version"],
                        "rows": side_by_side(a["values"] if a else "", b["values"] if b else "")})  # fmt: skip
    return changed
