"""Read one pack from a folder: pack.json, the mandatory values.yaml, manifests and role files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from marshmallow import ValidationError

from strata_common import yamltext
from strata_common.packs.manifests import ManifestError, parse_documents, render
from strata_common.schemas import flatten_errors
from strata_common.schemas.packs import PackManifestSchema

MAX_FILE_BYTES = 2 * 1024 * 1024


class PackError(ValueError):
    """A pack failed validation; `pack` names it (name@version when known, else its folder)."""

    def __init__(self, pack: str, reason: str):
        reason = " ".join(reason.split())  # one line, however the parser formatted it
        super().__init__(f"{pack}: {reason}")
        self.pack = pack
        self.reason = reason


def digest_of(definition: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of the pack's whole content."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _read(path: Path) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_FILE_BYTES} bytes")
    return path.read_text()


def load_pack(folder: Path) -> dict[str, Any]:
    """The validated definition of the pack in `folder` (raises PackError)."""
    label = folder.name
    try:
        raw = json.loads(_read(folder / "pack.json"))
    except FileNotFoundError:
        raise PackError(label, "pack.json is missing") from None
    except (ValueError, OSError) as err:
        raise PackError(label, f"pack.json is not valid JSON: {err}") from None
    if isinstance(raw, dict) and raw.get("name") and raw.get("version"):
        label = f"{raw['name']}@{raw['version']}"
    try:
        manifest = PackManifestSchema().load(raw)
    except ValidationError as err:
        problems = "; ".join(f"{path}: {msg}" for path, msg in flatten_errors(err.messages).items())
        raise PackError(label, f"pack.json is invalid: {problems}") from None
    try:
        values_text = _read(folder / "values.yaml")
        values = yamltext.load(values_text) or {}
    except FileNotFoundError:
        raise PackError(label, "values.yaml is missing (every pack has one, even if empty)") from None
    except yaml.YAMLError as err:
        raise PackError(label, f"values.yaml is not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise PackError(label, "values.yaml must be a mapping")
    definition: dict[str, Any] = {**manifest, "values": values_text, "manifests": {}, "roleFiles": {}}
    if manifest["layer"] in ("cni", "csi", "addon"):
        definition["manifests"] = _load_manifests(folder, label, values)
    if manifest["layer"] == "os":
        definition["roleFiles"] = _load_roles(folder, label, manifest["os"]["roles"])
    definition["digest"] = digest_of(definition)
    return definition


def _load_manifests(folder: Path, label: str, values: dict[str, Any]) -> dict[str, str]:
    files = sorted((folder / "manifests").glob("*.yaml")) if (folder / "manifests").is_dir() else []
    if not files:
        raise PackError(label, "a cni, csi or addon pack needs manifests/*.yaml")
    manifests = {}
    for path in files:
        text = _read(path)
        try:
            parse_documents(render(text, values), f"manifests/{path.name}")
        except ManifestError as err:
            raise PackError(label, str(err)) from None
        manifests[path.name] = text
    return manifests


def _load_roles(folder: Path, label: str, roles: list[str]) -> dict[str, str]:
    files: dict[str, str] = {}
    for role in roles:
        role_dir = folder / "roles" / role
        tasks = role_dir / "tasks" / "main.yml"
        if not tasks.is_file():
            raise PackError(label, f"role {role!r} does not exist (expected roles/{role}/tasks/main.yml)")
        for path in sorted(p for p in role_dir.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            try:
                files[relative] = _read(path)
            except UnicodeDecodeError:
                raise PackError(label, f"{relative} is not a text file") from None
        try:
            yamltext.load(files[f"roles/{role}/tasks/main.yml"])
        except yaml.YAMLError as err:
            raise PackError(label, f"roles/{role}/tasks/main.yml is not valid YAML: {err}") from None
    return files
