"""Images through the API and real image builder, provisioner and beat processes, with real
ansible-runner builds: one build per signature, reuse, copy to another region, failure and fix."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from api_support import cluster_request
from conftest import start_fleet
from psycopg.rows import dict_row
from test_provisioning import wait_phase

from helpers import wait_until, write_pack
from strata_common.db.pool import open_pool
from strata_localcloud.cloud import LocalCloud

GOLDEN_ROLE = """---
- name: Golden | Company folder
  ansible.builtin.file:
    path: "{{ image_root }}/etc/golden"
    state: directory
    mode: "0755"
- name: Golden | Message of the day
  ansible.builtin.copy:
    dest: "{{ image_root }}/etc/golden/motd"
    content: "{{ motd }}\\n"
    mode: "0644"
"""
FAILING_ROLE = """---
- name: Flaky | Register with the license server
  ansible.builtin.fail:
    msg: license server license.acme.example is unreachable
"""
FIXED_ROLE = """---
- name: Flaky | Register with the license server
  ansible.builtin.copy:
    dest: "{{ image_root }}/etc/license"
    content: "registered\\n"
    mode: "0600"
"""
RANDOMIZE_ROLE = """---
- name: Hardening | Address space layout randomization (CIS 1.5.2)
  ansible.builtin.copy:
    dest: "{{ image_root }}/etc/sysctl.d/60-aslr.conf"
    content: "kernel.randomize_va_space = 2\\n"
    mode: "0644"
"""
# Rules of the CIS Ubuntu 22.04 benchmark that the shipped ubuntu-22.04 pack's cis_hardening role makes pass
ROLE_RULES = ["sysctl_kernel_randomize_va_space", "sysctl_net_ipv4_conf_all_accept_redirects",
              "sysctl_net_ipv4_tcp_syncookies", "sysctl_net_ipv4_conf_all_log_martians",
              "file_permissions_sshd_config"]  # fmt: skip
ONE_NODE = [{"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["local-1a"]}]


# Every test counts builds and builders of one signature in the whole local cloud: each has its own.
pytestmark = pytest.mark.own_stack


@pytest.fixture
def lab(request, clients, processes, strata_env, database_url, tmp_path):
    """Workers of every service on a local cloud at time scale `request.param` (instant unless a test
    says), and a private registry of custom OS packs."""
    start_fleet(processes, {**strata_env, "STRATA_LOCALCLOUD_TIME_SCALE": getattr(request, "param", "0")})
    admin, op = clients["admin"], clients["operator"]
    registry = tmp_path / "registry"
    write_pack(registry, "golden-os", "1.0.0", GOLDEN_ROLE)
    write_pack(registry, "flaky-os", "1.0.0", FAILING_ROLE)
    created = admin.post("/v1/registries", {"name": "golden", "source": str(registry)}).json()
    assert admin.post(f"/v1/registries/{created['id']}/sync").json()["failed"] == []
    account = op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()
    pool = open_pool(database_url)
    yield {"registry": registry, "registryId": created["id"], "account": account["id"], "cloud": LocalCloud(pool)}
    pool.close()


def profile(op, name: str, os_pack: str, os_version: str = "1.0.0", values: str | None = None) -> dict:
    os_layer = {"pack": os_pack, "version": os_version, **({"values": values} if values else {})}
    body = {"name": name, "layers": [os_layer, {"pack": "kubernetes", "version": "1.32.1"}]}
    created = op.post("/v1/profiles", body)
    assert created.status_code == 201, created.text
    return created.json()


def create(op, lab, profile_id: str, name: str, region: str = "local-1") -> str:
    pools = [{**ONE_NODE[0], "zones": [f"{region}a"]}]
    body = cluster_request(profile_id, lab["account"], name=name, cloud={"region": region}, pools=pools)
    response = op.post("/v1/clusters", body)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def events(op, cluster_id: str, reason: str) -> list[dict]:
    items = op.get(f"/v1/clusters/{cluster_id}/events", params={"limit": 1000}).json()["items"]
    return [e for e in items if e["reason"] == reason]


def node_image(op, cluster_id: str) -> str:
    steps = op.get(f"/v1/clusters/{cluster_id}/steps").json()["items"]
    return next(s for s in steps if s["name"] == "ensure_image" and s["status"] == "succeeded")["output"]["image"]


def instances(database_url: str, role: str) -> list[dict]:
    """Every instance of this role ever launched, with whether it is still alive."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT id, deleted_at IS NULL AS alive FROM lc_resources"
            " WHERE kind = 'instance' AND tags->>'strata:role' = %s",
            (role,),
        ).fetchall()


def builders(database_url: str) -> list[dict]:
    """Every builder instance ever launched, with whether it is still alive."""
    return instances(database_url, "image-builder")


def build_attempts(database_url: str) -> int:
    """Build attempts so far: one, unless a loaded machine's late heartbeat let another run take a build over
    (a new attempt with its own builder)."""
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT coalesce(sum(attempt), 0) FROM image_builds").fetchone()[0]


def test_first_cluster_builds_the_second_reuses_another_region_copies(clients, lab, database_url):
    op = clients["operator"]
    golden = profile(op, "golden", "golden-os")
    first = create(op, lab, golden["id"], "first")
    wait_phase(op, first, "Running")
    image = node_image(op, first)
    files = lab["cloud"].image_files(image)
    assert files["etc/golden/motd"] == b"hello\n"  # written by the pack's role
    assert files["etc/strata/kubernetes-version"] == b"1.32.1\n"  # Strata's Kubernetes-install role
    assert files["etc/os-release"].startswith(b"ID=ubuntu")  # from the base image
    assert "roles custom must run" in events(op, first, "ImageBuild")[0]["message"]
    tasks = events(op, first, "AnsibleTask")
    assert {"task": "Golden | Message of the day", "host": tasks[0]["data"]["host"], "status": "changed"} in [
        e["data"] for e in tasks
    ]
    assert [b["alive"] for b in builders(database_url)] == [False] * build_attempts(database_url)  # terminated
    instances = [r for r in lab["cloud"].list_owned({"strata:cluster": first}) if r.kind == "instance"]
    assert [i.spec["image"] for i in instances] == [image]  # the node boots the built image

    second = create(op, lab, golden["id"], "second")
    wait_phase(op, second, "Running")
    assert node_image(op, second) == image and events(op, second, "ImageBuild") == []

    third = create(op, lab, golden["id"], "third", region="local-2")
    wait_phase(op, third, "Running")
    copied = node_image(op, third)
    assert copied != image and events(op, third, "ImageBuild") == [] and len(events(op, third, "ImageCopy")) == 1
    assert lab["cloud"].image_files(copied) == files
    assert len(builders(database_url)) == build_attempts(database_url)  # no build for the second and third

    listed = {(i["region"], i["source"]): i for i in op.get("/v1/images").json()["items"]}
    assert set(listed) == {("local-1", "built"), ("local-2", "copied")}
    assert listed[("local-1", "built")]["clusters"] == ["first", "second"]
    assert listed[("local-2", "copied")]["clusters"] == ["third"]
    assert listed[("local-1", "built")]["signature"] == listed[("local-2", "copied")]["signature"]
    assert listed[("local-1", "built")]["kubernetesVersion"] == "1.32.1"
    assert {i["state"] for i in listed.values()} == {"available"}
    assert clients["other"].get("/v1/images").json()["items"] == []  # another project sees none


@pytest.mark.parametrize("lab", ["0.02"], indirect=True)
def test_a_build_whose_image_was_still_pending_finishes_and_removes_its_builder(clients, lab, database_url):
    op = clients["operator"]
    cluster = create(op, lab, profile(op, "slow", "golden-os")["id"], "slow")
    wait_phase(op, cluster, "Running")
    assert [b["alive"] for b in builders(database_url)] == [False]
    built = events(op, cluster, "ImageBuilt")
    assert len(built) == 1 and node_image(op, cluster) in built[0]["message"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT status FROM image_builds").fetchall() == [("succeeded",)]
        conn.execute("UPDATE steps SET status = 'ready', wake_at = now() WHERE cluster_id = %s"
                     " AND name = 'ensure_image'", (cluster,))  # fmt: skip

    def done_again():  # as if the step's success was lost with the database that should have recorded it
        with psycopg.connect(database_url) as conn:
            return conn.execute("SELECT status = 'succeeded' FROM steps WHERE cluster_id = %s"
                                " AND name = 'ensure_image'", (cluster,)).fetchone()[0]  # fmt: skip

    wait_until(done_again, timeout=60, interval=0.3, message="ensure_image to succeed again")
    assert node_image(op, cluster) in built[0]["message"] and len(builders(database_url)) == 1


def test_ten_clusters_needing_the_same_new_image_cause_one_build(clients, lab, database_url):
    op = clients["operator"]
    shared = profile(op, "shared", "golden-os", values="motd: ten at once\n")  # a signature nobody built
    with ThreadPoolExecutor(10) as pool:
        ids = list(pool.map(lambda i: create(op, lab, shared["id"], f"c{i}"), range(10)))
    for cluster_id in ids:
        wait_phase(op, cluster_id, "Running", timeout=240)
    assert len(builders(database_url)) == build_attempts(database_url)
    assert sum(len(events(op, c, "ImageBuild")) for c in ids) == build_attempts(database_url)
    assert len({node_image(op, c) for c in ids}) == 1
    assert lab["cloud"].image_files(node_image(op, ids[0]))["etc/golden/motd"] == b"ten at once\n"


def test_a_failing_role_fails_the_condition_and_a_fixed_pack_version_recovers(clients, lab, database_url):
    op, admin = clients["operator"], clients["admin"]
    flaky = profile(op, "flaky", "flaky-os")
    cluster = create(op, lab, flaky["id"], "flaky")

    def image_failing():
        body = op.get(f"/v1/clusters/{cluster}").json()
        condition = next((c for c in body["conditions"] if c["type"] == "ImageReady"), None)
        return condition if condition and condition["status"] == "False" else None

    condition = wait_until(image_failing, timeout=120, message="ImageReady False")
    assert condition["title"] == "Customizing Image" and condition["reason"] == "ImageCustomizationFailed"
    assert "task 'Flaky | Register with the license server' on i-" in condition["message"]
    assert "license server license.acme.example is unreachable" in condition["message"]
    failed = [e for e in events(op, cluster, "AnsibleTask") if e["data"]["status"] == "failed"]
    assert failed and "unreachable" in failed[0]["message"]
    wait_until(lambda: builders(database_url) and not any(b["alive"] for b in builders(database_url)),
               timeout=30, message="the builder terminated")  # fmt: skip

    write_pack(lab["registry"], "flaky-os", "1.0.1", FIXED_ROLE)
    assert admin.post(f"/v1/registries/{lab['registryId']}/sync").json()["loaded"] == ["flaky-os@1.0.1"]
    layers = [{"pack": "flaky-os", "version": "1.0.1"}, {"pack": "kubernetes", "version": "1.32.1"}]
    revised = op.put(f"/v1/profiles/{flaky['id']}", {"layers": layers})
    assert revised.status_code == 200, revised.text
    moved = op.patch(f"/v1/clusters/{cluster}", {"profile": {"id": flaky["id"], "revision": 2}})
    assert moved.status_code == 202 and moved.json()["generation"] == 2
    wait_phase(op, cluster, "Running")
    assert lab["cloud"].image_files(node_image(op, cluster))["etc/license"] == b"registered\n"
    assert not any(b["alive"] for b in builders(database_url))


def scanned(op, image: str) -> dict[str, str]:
    report = op.get(f"/v1/images/{image}/scan")
    assert report.status_code == 200, report.text
    return {rule["id"]: rule["result"] for rule in report.json()["rules"]}


@pytest.mark.parametrize("lab", ["0.02"], indirect=True)  # scanners and builders pending a while: steps wait
def test_built_images_are_scanned_and_an_os_pack_can_require_rules(clients, lab, database_url):
    op, admin = clients["operator"], clients["admin"]
    write_pack(
        lab["registry"], "plain-jammy", "1.0.0", GOLDEN_ROLE, base="ubuntu-22.04", roles=[], skipK8sInstall=True
    )  # the out-of-the-box image, used as it is: scanned on first use
    write_pack(lab["registry"], "strict-jammy", "1.0.0", GOLDEN_ROLE, base="ubuntu-22.04",
               scan={"mustPass": ["sysctl_kernel_randomize_va_space"], "minScore": 10})  # fmt: skip
    assert admin.post(f"/v1/registries/{lab['registryId']}/sync").json()["failed"] == []
    hardened = create(op, lab, profile(op, "hardened", "ubuntu-22.04")["id"], "hardened")
    plain = create(op, lab, profile(op, "plain", "plain-jammy")["id"], "plain")
    strict_profile = profile(op, "strict", "strict-jammy")
    strict = create(op, lab, strict_profile["id"], "strict")
    wait_phase(op, hardened, "Running")
    wait_phase(op, plain, "Running")

    report = op.get(f"/v1/images/{node_image(op, hardened)}/scan").json()
    assert (report["status"], report["benchmark"]) == ("scanned", "CIS Ubuntu 22.04 Level 1 Server")
    assert report["profile"] == "xccdf_org.ssgproject.content_profile_cis_level1_server"
    assert report["totals"]["pass"] > 100 and sum(report["totals"].values()) == len(report["rules"]) > 150
    results = scanned(op, node_image(op, hardened))
    assert {rule: results[rule] for rule in ROLE_RULES} == dict.fromkeys(ROLE_RULES, "pass")
    assert node_image(op, plain) == "ubuntu-22.04" and events(op, plain, "ImageBuild") == []
    base = scanned(op, "ubuntu-22.04")  # the base image without the CIS role
    assert {rule: base[rule] for rule in ROLE_RULES} == dict.fromkeys(ROLE_RULES, "fail")
    failed = op.get("/v1/images/ubuntu-22.04/scan", params={"result": "fail"}).json()["rules"]
    assert {r["result"] for r in failed} == {"fail"} and set(ROLE_RULES) <= {r["id"] for r in failed}
    scanners = instances(database_url, "image-scanner")
    assert len(scanners) == 1 and not scanners[0]["alive"]  # launched for the scan, then terminated
    assert "CIS Ubuntu 22.04 Level 1 Server: " in events(op, hardened, "ImageScanned")[0]["message"]
    assert op.get("/v1/images/ami-00000000/scan").status_code == 404

    other_failures: list[str] = []

    def image_refused():
        body = op.get(f"/v1/clusters/{strict}").json()
        condition = next((c for c in body["conditions"] if c["type"] == "ImageReady"), None)
        if condition and condition["status"] == "False" and condition["reason"] != "ImageScanFailed":
            other_failures.append(f"{condition['reason']}: {condition['message']}")
        return condition if condition and condition["reason"] == "ImageScanFailed" else None

    # a try that fails otherwise first (seen once in CI under load) is retried like any step; said, not hidden
    condition = wait_until(image_refused, timeout=180, message=f"ImageReady ImageScanFailed (also {other_failures})")
    if other_failures:
        ansible = [e["message"] for e in events(op, strict, "AnsibleTask") if e["level"] == "warning"]
        warnings.warn(f"the strict build failed otherwise before its scan: {sorted(set(other_failures))}; "
                      f"its Ansible warnings: {ansible}", stacklevel=1)  # fmt: skip
    assert "sysctl_kernel_randomize_va_space (fail)" in condition["message"], condition
    wait_until(lambda: not any(b["alive"] for b in builders(database_url)), timeout=30, message="no builder left")

    write_pack(lab["registry"], "strict-jammy", "1.0.1", RANDOMIZE_ROLE, base="ubuntu-22.04",
               scan={"mustPass": ["sysctl_kernel_randomize_va_space"], "minScore": 10})  # fmt: skip
    assert admin.post(f"/v1/registries/{lab['registryId']}/sync").json()["loaded"] == ["strict-jammy@1.0.1"]
    layers = [{"pack": "strict-jammy", "version": "1.0.1"}, {"pack": "kubernetes", "version": "1.32.1"}]
    assert op.put(f"/v1/profiles/{strict_profile['id']}", {"layers": layers}).status_code == 200
    moved = op.patch(f"/v1/clusters/{strict}", {"profile": {"id": strict_profile["id"], "revision": 2}})
    assert moved.status_code == 202, moved.text
    wait_phase(op, strict, "Running")
    assert scanned(op, node_image(op, strict))["sysctl_kernel_randomize_va_space"] == "pass"
