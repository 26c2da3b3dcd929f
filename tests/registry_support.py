"""A private pack registry written by the tests: good packs, broken ones, and an archive."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

AGENT_ROLE = """---
- name: Install the ACME monitoring agent
  ansible.builtin.copy:
    dest: "{{ image_root }}/opt/acme/agent.conf"
    content: "endpoint = https://telemetry.acme.example\\n"
    mode: "0644"
"""


def _pack(root: Path, folder: str, manifest: dict, values: str = "{}\n", files: dict[str, str] | None = None) -> None:
    target = root / folder
    target.mkdir(parents=True)
    (target / "pack.json").write_text(json.dumps(manifest))
    (target / "values.yaml").write_text(values)
    for relative, text in (files or {}).items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(text)


def os_manifest(name: str, **os_changes) -> dict:
    return {
        "name": name,
        "version": "1.0.0",
        "layer": "os",
        "cloudTypes": ["local"],
        "os": {"family": "custom", "version": "1", "images": {"local": {"image": f"{name}-base"}}, **os_changes},
    }


def write_registry(root: Path) -> Path:
    """A folder registry; returns its path. Holds 3 good packs and 3 broken ones."""
    _pack(root, "acme-os/1.0.0", os_manifest("acme-os", roles=["acme_agent"]),
          files={"roles/acme_agent/tasks/main.yml": AGENT_ROLE})  # fmt: skip
    _pack(root, "byo-os/1.0.0", os_manifest("byo-os", skipK8sInstall=True))
    _pack(root, "no-image/1.0.0", {**os_manifest("no-image"), "cloudTypes": ["local", "aws"]})
    _pack(root, "missing-role/1.0.0", os_manifest("missing-role", roles=["ghost"]))
    _pack(root, "bad-version/1.0", {**os_manifest("bad-version"), "version": "1.0"})
    addon = {
        "name": "needs-vault",
        "version": "1.0.0",
        "layer": "addon",
        "cloudTypes": ["local"],
        "constraints": {"dependencies": [{"pack": "vault", "minVersion": "1.18"}]},
    }
    _pack(root, "needs-vault/1.0.0", addon, "replicas: 1\n",
          {"manifests/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: needs-vault\n"
                                "data:\n  replicas: \"{{ values.replicas }}\"\n"})  # fmt: skip
    entries = ["acme-os/1.0.0", "byo-os/1.0.0", "no-image/1.0.0", "missing-role/1.0.0", "bad-version/1.0",
               "needs-vault/1.0.0"]  # fmt: skip
    (root / "index.json").write_text(json.dumps({"name": "acme", "packs": entries}))
    return root


def write_archive_registry(root: Path) -> Path:
    """An http-style registry: index.json and one .tar.gz pack."""
    source = root / "src"
    _pack(source, "acme-tools", {**os_manifest("acme-tools"), "version": "2.0.0"})
    with tarfile.open(root / "acme-tools-2.0.0.tar.gz", "w:gz") as archive:
        archive.add(source / "acme-tools", arcname="acme-tools")
    (root / "index.json").write_text(json.dumps({"name": "acme-http", "packs": ["acme-tools-2.0.0.tar.gz"]}))
    return root
