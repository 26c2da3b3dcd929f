"""The pack format: the shipped registry loads and its manifests are valid Kubernetes objects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from strata_common.packs import semver
from strata_common.packs.loader import PackError, load_pack
from strata_common.packs.manifests import ManifestError, parse_documents, render, validate_object
from strata_common.packs.profiles import deep_merge
from strata_common.packs.registry import default_builtin_path, load_registry

BUILTIN = default_builtin_path()


@pytest.fixture(scope="module")
def public_packs():
    packs, failures = load_registry(str(BUILTIN))
    assert failures == []
    return {f"{p['name']}@{p['version']}": p for p in packs}


def test_the_public_registry_ships_what_was_promised(public_packs):
    names = {p["name"] for p in public_packs.values()}
    assert {"ubuntu-22.04", "ubuntu-24.04", "rhel-9", "centos-stream-9"} <= names
    assert {f"kubernetes@{v}" for v in ("1.31.4", "1.32.1", "1.33.0")} <= set(public_packs)
    assert {"calico", "cilium", "csi-aws-ebs", "csi-azure-disk", "csi-vsphere", "local-path"} <= names
    assert {"prometheus", "vault", "permissions-manager"} <= names


def test_every_manifest_renders_to_valid_kubernetes_objects(public_packs):
    kinds = set()
    for pack in public_packs.values():
        values = yaml.safe_load(pack["values"]) or {}
        for name, text in pack["manifests"].items():
            for obj in parse_documents(render(text, values), f"{pack['name']}/{name}"):
                kinds.add(obj["kind"])
    assert {"Deployment", "DaemonSet", "StatefulSet", "ClusterRole", "ClusterRoleBinding", "StorageClass"} <= kinds


def test_os_packs_carry_a_cis_role_editing_sysctl_sshd_and_auditd(public_packs):
    for label in ("ubuntu-22.04@1.0.0", "ubuntu-24.04@1.0.0", "rhel-9@1.0.0", "centos-stream-9@1.0.0"):
        pack = public_packs[label]
        tasks = yaml.safe_load(pack["roleFiles"]["roles/cis_hardening/tasks/main.yml"])
        targets = " ".join(str(t.get(next(k for k in t if k.startswith("ansible.builtin")))) for t in tasks)
        assert "sysctl.d" in targets and "sshd_config" in targets and "auditd.conf" in targets, label
        assert set(pack["os"]["images"]) == {"aws", "azure", "vsphere", "local"}


def test_one_changed_byte_of_a_role_changes_the_digest(tmp_path):
    folder = tmp_path / "ubuntu"
    shutil.copytree(BUILTIN / "ubuntu-22.04" / "1.0.0", folder)
    before = load_pack(folder)["digest"]
    role = folder / "roles/cis_hardening/defaults/main.yml"
    role.write_text(role.read_text().replace('"300"', '"301"'))
    assert load_pack(folder)["digest"] != before
    assert load_pack(folder)["digest"] == load_pack(folder)["digest"]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"kind": "ConfigMap", "metadata": {"name": "a"}}, "without apiVersion"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "without metadata.name"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}}, "DNS subdomain"),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "namespace": "b"}}, "cluster-scoped"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": 1}}}, "must be a string"),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
          "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}},
                   "spec": {"containers": [{"name": "c", "image": "i"}]}}}}, "does not match"),
        ({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "a"},
          "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "a"}},
                   "spec": {"containers": [{"name": "c", "image": "i"}]}}}}, "serviceName"),
        ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"ports": [{"port": "80"}]}},
         "integer ports"),
    ],
)  # fmt: skip
def test_invalid_objects_are_refused(obj, message):
    with pytest.raises(ManifestError, match=message):
        validate_object(obj, "test.yaml")


def test_values_substitution():
    assert render("a: {{ values.x.y }}\nb: {{values.flag}}", {"x": {"y": 3}, "flag": True}) == "a: 3\nb: true"
    with pytest.raises(ManifestError, match=r"values\.nope"):
        render("{{ values.nope }}", {})
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}}


def test_a_pack_without_values_yaml_is_refused(tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(BUILTIN / "calico" / "3.28.2", folder)
    (folder / "values.yaml").unlink()
    with pytest.raises(PackError, match=r"values\.yaml is missing"):
        load_pack(folder)


def test_semver_ranges():
    assert semver.in_range("1.33.0", "1.28", "1.33")
    assert not semver.in_range("1.33.0", "1.27", "1.32")
    assert semver.in_range("1.31.4", "1.31", None) and not semver.in_range("1.30.9", "1.31", None)
    assert not semver.is_semver("1.0") and semver.is_semver("1.2.3-rc.1+build.5")


def test_builtin_path_points_at_the_shipped_packs():
    assert (BUILTIN / "index.json").is_file() and Path(__file__).resolve().parents[2] / "packs" == BUILTIN
