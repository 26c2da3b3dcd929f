"""Packs, private registries (folder and http) and profiles through the HTTP API."""

from __future__ import annotations

import copy
import functools
import http.server
import threading

import pytest
from api_support import LOCAL_PROFILE
from registry_support import write_archive_registry, write_registry


def test_public_packs_are_listed_with_digests(clients):
    viewer = clients["viewer"]
    packs = viewer.get("/v1/packs").json()["items"]
    assert len(packs) == 16
    assert {p["name"] for p in viewer.get("/v1/packs", params={"layer": "os"}).json()["items"]} == {
        "ubuntu-22.04", "ubuntu-24.04", "rhel-9", "centos-stream-9"}  # fmt: skip
    calico = next(p for p in packs if p["name"] == "calico")
    detail = viewer.get(f"/v1/packs/{calico['id']}").json()
    assert detail["digest"].startswith("sha256:") and detail["registry"] == "public"
    assert "calico.yaml" in detail["manifests"] and "mtu" in detail["values"]
    ubuntu = next(p for p in packs if p["name"] == "ubuntu-22.04")
    assert "roles/cis_hardening/tasks/main.yml" in viewer.get(f"/v1/packs/{ubuntu['id']}").json()["roleFiles"]
    assert viewer.get("/v1/packs/not-a-uuid").status_code == 404


def test_private_registry_sync_reports_bad_packs_and_loads_the_rest(clients, tmp_path):
    admin, other = clients["admin"], clients["other"]
    source = write_registry(tmp_path / "acme")
    created = admin.post("/v1/registries", {"name": "acme", "source": str(source)})
    assert created.status_code == 201, created.text
    report = admin.post(f"/v1/registries/{created.json()['id']}/sync").json()
    assert sorted(report["loaded"]) == ["acme-os@1.0.0", "byo-os@1.0.0", "needs-vault@1.0.0"]
    reasons = {f["pack"]: f["reason"] for f in report["failed"]}
    assert "no image reference for cloud 'aws'" in reasons["no-image@1.0.0"]
    assert "role 'ghost' does not exist" in reasons["missing-role@1.0.0"]
    assert "version: must be a semantic version" in reasons["bad-version@1.0"]

    mine = {p["name"] for p in admin.get("/v1/packs", params={"layer": "os"}).json()["items"]}
    assert {"acme-os", "byo-os"} <= mine
    theirs = {p["name"] for p in other.get("/v1/packs", params={"layer": "os"}).json()["items"]}
    assert not {"acme-os", "byo-os"} & theirs
    assert other.get(f"/v1/registries/{created.json()['id']}").status_code == 404

    again = admin.post(f"/v1/registries/{created.json()['id']}/sync").json()
    assert sorted(again["unchanged"]) == sorted(report["loaded"]) and again["loaded"] == []
    role = source / "acme-os/1.0.0/roles/acme_agent/tasks/main.yml"
    role.write_text(role.read_text() + "\n")
    changed = admin.post(f"/v1/registries/{created.json()['id']}/sync").json()
    assert {"pack": "acme-os@1.0.0", "reason": "content changed without a new version; publish a new version"} in (
        changed["failed"]
    )
    assert admin.post("/v1/registries", {"name": "acme", "source": str(source)}).status_code == 409
    assert admin.post("/v1/registries", {"name": "rel", "source": "relative/path"}).status_code == 422
    assert [r["name"] for r in admin.get("/v1/registries").json()["items"]] == ["public", "acme"]
    assert admin.delete(f"/v1/registries/{created.json()['id']}").status_code == 204
    assert "acme-os" not in {p["name"] for p in admin.get("/v1/packs").json()["items"]}


def test_http_registry_with_archives(clients, tmp_path):
    root = write_archive_registry(tmp_path / "web")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        admin = clients["admin"]
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        registry = admin.post("/v1/registries", {"name": "web", "source": url}).json()
        report = admin.post(f"/v1/registries/{registry['id']}/sync").json()
        assert report == {"loaded": ["acme-tools@2.0.0"], "unchanged": [], "failed": []}
        missing = admin.post("/v1/registries", {"name": "gone", "source": url + "nothing/"}).json()
        unreadable = admin.post(f"/v1/registries/{missing['id']}/sync")
        assert unreadable.status_code == 422 and "index" in unreadable.json()["error"]["message"]
    finally:
        server.shutdown()


def test_profile_revisions(clients):
    op = clients["operator"]
    created = op.post("/v1/profiles", LOCAL_PROFILE).json()
    assert created["revision"] == 1
    assert [layer["layer"] for layer in created["layers"]] == ["os", "k8s", "cni", "csi", "addon"]
    changed = copy.deepcopy(LOCAL_PROFILE)
    changed["layers"][1]["version"] = "1.33.0"
    del changed["name"]
    updated = op.put(f"/v1/profiles/{created['id']}", changed)
    assert updated.status_code == 200 and updated.json()["revision"] == 2
    first = op.get(f"/v1/profiles/{created['id']}/revisions/1").json()
    assert first["layers"][1]["version"] == "1.32.1"
    assert op.get(f"/v1/profiles/{created['id']}").json()["layers"][1]["version"] == "1.33.0"
    assert op.get(f"/v1/profiles/{created['id']}/revisions/3").status_code == 404
    assert [p["name"] for p in op.get("/v1/profiles").json()["items"]] == ["web"]
    assert op.delete(f"/v1/profiles/{created['id']}").status_code == 204


def _layers(*pairs: tuple[str, str], **values: str) -> list[dict]:
    return [{"pack": p, "version": v, **({"values": values[p]} if p in values else {})} for p, v in pairs]


UBUNTU, K8S_132, K8S_133 = ("ubuntu-22.04", "1.0.0"), ("kubernetes", "1.32.1"), ("kubernetes", "1.33.0")
CALICO, CILIUM = ("calico", "3.28.2"), ("cilium", "1.16.3")


@pytest.mark.parametrize(
    ("layers", "field", "text"),
    [
        (_layers(UBUNTU, CALICO), "layers", "exactly one k8s layer"),
        (_layers(UBUNTU, K8S_132, CALICO, CILIUM), "layers.3.pack", "at most one cni layer"),
        (_layers(K8S_132, UBUNTU), "layers", "ordered os, k8s, cni, csi"),
        (_layers(UBUNTU, K8S_132, ("calico", "9.9.9")), "layers.2.pack", "no pack calico@9.9.9"),
        (_layers(UBUNTU, K8S_133, CILIUM), "layers.2.version",
         "cilium@1.16.3 supports Kubernetes between 1.27 and 1.32, but the profile's kubernetes@1.33.0"),
        (_layers(UBUNTU, K8S_132, CALICO, calico="mtu: [1400"), "layers.2.values", "not valid YAML"),
        (_layers(UBUNTU, K8S_132, CALICO, calico="- a list"), "layers.2.values", "must be a YAML mapping"),
        (_layers(UBUNTU, ("kubernetes", "1.32.1\n")), "layers.1.version", "semantic version"),
        (_layers(UBUNTU, ("kubernetes", "1.٣٢.1")), "layers.1.version", "semantic version"),
        (_layers(UBUNTU, ("Kubernetes!", "1.32.1")), "layers.1.pack", "lowercase letters"),
        (_layers(UBUNTU, K8S_132), "name", "DNS label"),
    ],
)  # fmt: skip
def test_invalid_profiles_name_the_layer(clients, layers, field, text):
    name = "trailing-newline\n" if field == "name" else "bad"  # a pattern's $ must not pass a final newline
    response = clients["operator"].post("/v1/profiles", {"name": name, "layers": layers})
    assert response.status_code == 422, response.text
    fields = response.json()["error"]["fields"]
    assert text in fields[field], fields


def test_pack_dependency_names_both_packs(clients, tmp_path):
    admin = clients["admin"]
    registry = admin.post("/v1/registries", {"name": "acme", "source": str(write_registry(tmp_path / "r"))}).json()
    admin.post(f"/v1/registries/{registry['id']}/sync")
    layers = _layers(UBUNTU, K8S_132, ("needs-vault", "1.0.0"))
    missing = admin.post("/v1/profiles", {"name": "p", "layers": layers}).json()["error"]["fields"]
    assert (
        missing["layers.2.pack"] == "needs-vault@1.0.0 depends on vault (>= 1.18), which the profile does not include"
    )
    layers = _layers(UBUNTU, K8S_132, ("vault", "1.17.6"), ("needs-vault", "1.0.0"))
    old = admin.post("/v1/profiles", {"name": "p", "layers": layers}).json()["error"]["fields"]
    assert old["layers.3.pack"] == "needs-vault@1.0.0 needs vault >= 1.18, but the profile has vault@1.17.6"
