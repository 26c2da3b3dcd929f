"""Cluster profiles: resolve each layer to a pack and check the stack as a whole.

Problems are returned as {field path: message} so the API can answer 422 naming each field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from strata_common import yamltext
from strata_common.packs import semver
from strata_common.packs.manifests import ManifestError, render

LAYER_ORDER = ("os", "k8s", "cni", "csi", "addon")
AT_MOST_ONE = ("os", "k8s", "cni", "csi")
REQUIRED = ("os", "k8s")

# (name, version) -> pack row {id, name, version, layer, digest, definition} or None
PackLookup = Callable[[str, str], dict[str, Any] | None]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def parse_values(text: str) -> dict[str, Any]:
    """A values document as a mapping (raises ValueError with the reason)."""
    try:
        values = yamltext.load(text) if text and text.strip() else {}
    except yaml.YAMLError as err:
        raise ValueError(f"not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise ValueError("must be a YAML mapping")
    return values


def resolve_layers(layers: list[dict[str, Any]], find: PackLookup) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(resolved layers, problems). A resolved layer carries its pack's id, layer, digest and values."""
    problems: dict[str, str] = {}
    resolved: list[dict[str, Any]] = []
    for i, layer in enumerate(layers):
        row = find(layer["pack"], layer["version"])
        if row is None:
            problems[f"layers.{i}.pack"] = (
                f"no pack {layer['pack']}@{layer['version']} in this project's registries or the public one"
            )
            continue
        values_text = layer.get("values") or ""
        try:
            values = deep_merge(parse_values(row["definition"]["values"]), parse_values(values_text))
            for text in row["definition"]["manifests"].values():
                render(text, values)
        except (ValueError, ManifestError) as err:
            problems[f"layers.{i}.values"] = str(err)
            continue
        resolved.append(
            {
                "index": i,
                "pack": row["name"],
                "version": row["version"],
                "layer": row["layer"],
                "packId": str(row["id"]),
                "digest": row["digest"],
                "values": values_text,
                "definition": row["definition"],
            }
        )
    if not problems:
        problems.update(check_stack(resolved))
    return resolved, problems


def _label(layer: dict[str, Any]) -> str:
    return f"{layer['pack']}@{layer['version']}"


def check_stack(layers: list[dict[str, Any]]) -> dict[str, str]:
    """Counts and order of layers, Kubernetes versions supported, and pack dependencies."""
    problems: dict[str, str] = {}
    kinds = [layer["layer"] for layer in layers]
    for kind in REQUIRED:
        if kind not in kinds:
            problems["layers"] = f"a profile needs exactly one {kind} layer"
    for kind in AT_MOST_ONE:
        if kinds.count(kind) > 1:
            second = [layer for layer in layers if layer["layer"] == kind][1]
            problems[f"layers.{second['index']}.pack"] = f"a profile has at most one {kind} layer"
    ranks = [LAYER_ORDER.index(k) for k in kinds]
    if ranks != sorted(ranks) and "layers" not in problems:
        problems["layers"] = "layers must be ordered os, k8s, cni, csi, then add-ons"
    k8s = next((layer for layer in layers if layer["layer"] == "k8s"), None)
    by_name = {layer["pack"]: layer for layer in layers}
    for layer in layers:
        definition = layer["definition"]
        supported = definition.get("kubernetesVersions")
        if k8s and supported:
            low, high = supported.get("minVersion"), supported.get("maxVersion")
            kube_version = k8s["definition"]["kubernetes"]["version"]
            if not semver.in_range(kube_version, low, high):
                problems[f"layers.{layer['index']}.version"] = (
                    f"{_label(layer)} supports Kubernetes {semver.describe(low, high)}, "
                    f"but the profile's {_label(k8s)} is Kubernetes {kube_version}"
                )
        for dep in definition["constraints"]["dependencies"]:
            low, high = dep.get("minVersion"), dep.get("maxVersion")
            other = by_name.get(dep["pack"])
            if other is None:
                problems[f"layers.{layer['index']}.pack"] = (
                    f"{_label(layer)} depends on {dep['pack']} ({semver.describe(low, high)}), "
                    "which the profile does not include"
                )
            elif not semver.in_range(other["version"], low, high):
                problems[f"layers.{layer['index']}.pack"] = (
                    f"{_label(layer)} needs {dep['pack']} {semver.describe(low, high)}, "
                    f"but the profile has {_label(other)}"
                )
    return problems


def node_minimums(layers: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    """Per resource (minCpu, minMemoryMiB, minDiskGiB), the largest minimum and the pack asking for it."""
    minimums: dict[str, tuple[int, str]] = {}
    for layer in layers:
        for key, value in layer["definition"]["constraints"]["resources"].items():
            if value > minimums.get(key, (0, ""))[0]:
                minimums[key] = (value, _label(layer))
    return minimums
