"""What image a cluster needs: the decision to use the OS pack's image as it is or to build one, and
the signature (sha256) that names a built image so that every cluster with the same packs reuses it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KUBERNETES_ROLE = "kubernetes_install"
ROLES = Path(__file__).resolve().parent / "roles"


def kubernetes_role_files() -> dict[str, str]:
    """Strata's own Kubernetes-install role, by path relative to the roles' parent (as pack roles are)."""
    folder = ROLES / KUBERNETES_ROLE
    return {
        f"roles/{KUBERNETES_ROLE}/{path.relative_to(folder).as_posix()}": path.read_text()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@dataclass(frozen=True)
class ImagePlan:
    """`build` False: the pack's image is used as it is. Else `roles` run on a builder, in order."""

    build: bool
    pack: str  # name@version of the OS pack
    reason: str
    signature: str
    roles: list[str]
    role_files: dict[str, str]
    variables: dict[str, Any]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def plan_image(os_pack: dict[str, Any], values: dict[str, Any], kubernetes_version: str) -> ImagePlan:
    """`values` are the OS layer's effective values: they become the roles' variables, so they are
    part of the signature as much as the roles' files are."""
    os_ = os_pack["os"]
    install = not os_.get("skipK8sInstall", False)
    roles = list(os_.get("roles", []))
    files = dict(os_pack.get("roleFiles", {}))
    if install:
        roles.append(KUBERNETES_ROLE)
        files.update(kubernetes_role_files())
    definition = {k: v for k, v in os_pack.items() if k not in ("roleFiles", "digest", "manifests")}
    canonical = json.dumps(
        {"pack": definition, "values": values, "kubernetes": kubernetes_version if install else None,
         "roleFiles": {path: _sha(text) for path, text in sorted(files.items())}},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )  # fmt: skip
    signature = _sha(canonical)
    variables = {**values, **({"kubernetes_version": kubernetes_version} if install else {})}
    pack = f"{os_pack['name']}@{os_pack['version']}"
    if not roles:
        reason = f"{pack} has skipK8sInstall and no roles: its image is used as it is"
        return ImagePlan(False, pack, reason, signature, [], {}, variables)
    why = []
    if os_.get("roles"):
        why.append(f"roles {', '.join(os_['roles'])} must run")
    if install:
        why.append(f"Kubernetes {kubernetes_version} must be installed (skipK8sInstall is false)")
    return ImagePlan(True, pack, f"{pack}: {' and '.join(why)}", signature, roles, files, variables)
