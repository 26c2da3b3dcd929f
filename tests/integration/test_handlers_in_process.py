"""The provisioner's and image builder's step handlers run in this process on a fake cloud (whose node
instances are the cluster's Nodes): no Celery, no HTTP. A cluster made by the API's own commands is
driven by the real engine (claim, run, record, unblock) through image, infrastructure and nodes; the
status steps write for each other is there; and every step run a second time converges on the same
resources."""

from __future__ import annotations

import psycopg
import pytest
import yaml
from fake_cloud import FakeCloud, FakeNodes
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

import strata_imagebuilder.handlers  # noqa: F401 - registers the image step
import strata_provisioner.handlers
import strata_provisioner.nodes  # noqa: F401 - with handlers: registers the provisioner's steps
from strata_api.commands import accounts, clusters, profiles, unit_of_work
from strata_common.config import load_settings
from strata_common.db.pool import open_pool
from strata_common.db.queries import packs
from strata_common.db.tokens import ensure_project
from strata_common.engine.publish import Publisher
from strata_common.engine.runner import Dependencies, run_step
from strata_common.model.cluster import ClusterSpec
from strata_common.packs.profiles import deep_merge, parse_values
from strata_imagebuilder.signature import plan_image

QUEUES = ["provisioner", "imagebuilder"]  # the add-on steps need a cluster API: not here


class Sent:
    """A TaskSender that only records: the test runs what is ready itself."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, object]] = []

    def send_task(self, name: str, args: object = None, **options: object) -> None:
        self.tasks.append((name, args))


@pytest.fixture
def world(database_url):
    settings = load_settings({"STRATA_DATABASE_URL": database_url, "STRATA_REDIS_URL": "redis://127.0.0.1:1/0",
                              "STRATA_SECRET_KEY": "k" * 40})  # fmt: skip
    pool = open_pool(database_url, max_size=4)
    sent = Sent()
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        project = ensure_project(conn, "alpha")
        with unit_of_work(conn, project, settings, Publisher(sent)) as work:
            account = accounts.create_account(work, {"name": "lab", "cloud": "local", "config": {}, "credentials": {}})
            layers = [{"pack": "ubuntu-22.04", "version": "1.0.0"}, {"pack": "kubernetes", "version": "1.32.1"}]
            profile = profiles.create_profile(work, {"name": "base", "description": "", "layers": layers})
            pools = [
                {"name": "cp", "role": "controlPlane", "count": 1, "instanceType": "medium", "zones": ["local-1a"],
                 "diskGiB": 40},
                {"name": "w", "role": "worker", "count": 2, "instanceType": "large",
                 "zones": ["local-1a", "local-1b"], "diskGiB": 40},
            ]  # fmt: skip
            cluster = clusters.create_cluster(work, {"name": "c1", "profile": {"id": profile},
                                                     "cloudAccount": account["id"], "cloud": {"region": "local-1"},
                                                     "pools": pools})  # fmt: skip
    assert [name for name, _ in sent.tasks].count("strata.provisioner.run_step") >= 2  # published after commit
    yield {"settings": settings, "pool": pool, "cluster": cluster["id"], "database_url": database_url}
    pool.close()


def drive(world, cloud: FakeCloud) -> list[str]:
    """Run every ready step of the provisioner and image builder until none is left; the outcomes."""
    outcomes = []
    while True:
        with world["pool"].connection() as conn:
            ready = conn.execute(
                "SELECT id, queue FROM steps WHERE status = 'ready' AND queue = ANY(%s) ORDER BY id", (QUEUES,)
            ).fetchall()
        if not ready:
            return outcomes
        for step in ready:
            outcomes.append(run_step(step["id"], pool=world["pool"], settings=world["settings"],
                                     publisher=Publisher(Sent()), service=step["queue"], worker="test",
                                     deps=Dependencies(driver=lambda _cloud, _account: cloud,
                                                       kube=lambda _access: FakeNodes(cloud))))  # fmt: skip


def cluster_row(world) -> dict:
    with world["pool"].connection() as conn:
        return conn.execute("SELECT * FROM clusters WHERE id = %s", (world["cluster"],)).fetchone()


def image_signature(world) -> str:
    """The signature the image step computes for the cluster's OS and Kubernetes layers."""
    spec = ClusterSpec.from_json(cluster_row(world)["spec"])
    with world["pool"].connection() as conn:
        os_pack = packs.definition(conn, spec.layer_of("os").pack_id)
        kubernetes = packs.definition(conn, spec.layer_of("k8s").pack_id)
    values = deep_merge(parse_values(os_pack["values"]), parse_values(spec.layer_of("os").values))
    return plan_image(os_pack, values, kubernetes["kubernetes"]["version"]).signature


def test_image_infrastructure_and_nodes_on_a_fake_cloud_and_every_step_again(world):
    cloud = FakeCloud()
    source = cloud.add_image("local-2", {"strata:signature": image_signature(world)})  # elsewhere: it is copied

    assert set(drive(world, cloud)) == {"succeeded"}
    status = cluster_row(world)["status"]
    image = cloud.resources[status["image"]]
    assert image.region == "local-1" and image.spec == {"copiedFrom": source.id}
    assert {role: set(zones) for role, zones in status["subnets"].items()} == {
        "control-plane": {"local-1a", "local-1b"}, "workers": {"local-1a", "local-1b"}}  # fmt: skip
    assert status["network"].startswith("network-")
    assert set(status["securityGroups"]) == {"load-balancer", "control-plane", "workers"}
    assert status["endpoint"] == "https://api.local-1.fake:6443"
    control_plane = [r.id for r in cloud.resources.values() if r.tags.get("strata:node") == "ensure_node/cp-0"]
    assert cloud.resources[status["loadBalancer"]].spec["targets"] == control_plane
    instances = {r.tags["strata:node"]: r for r in cloud.resources.values() if r.kind == "instance"}
    assert sorted(instances) == ["ensure_node/cp-0", "ensure_node/w-0", "ensure_node/w-1"]
    assert {r.spec["image"] for r in instances.values()} == {image.id}
    assert [r.zone for _, r in sorted(instances.items())] == ["local-1a", "local-1a", "local-1b"]
    for name, instance in instances.items():  # each node in its zone's subnet and its role's group, disk as asked
        role = "control-plane" if "cp-" in name else "workers"
        assert instance.spec["subnet"] == status["subnets"][role][instance.zone]
        assert instance.spec["securityGroups"] == [status["securityGroups"][role]]
        assert instance.spec["diskGiB"] == 40
    kinds = {name: [d["kind"] for d in yaml.safe_load_all(yaml.safe_load(
                 r.spec["userData"].removeprefix("#cloud-config\n"))["write_files"][0]["content"])]
             for name, r in instances.items()}  # fmt: skip
    assert "InitConfiguration" in kinds["ensure_node/cp-0"]  # the planner's init node initialises
    assert "InitConfiguration" not in kinds["ensure_node/w-0"] and "JoinConfiguration" in kinds["ensure_node/w-0"]

    before = {kind: sum(r.kind == kind for r in cloud.resources.values()) for kind in ("instance", "image", "network")}
    with world["pool"].connection() as conn:  # every step of the plan runs once more
        again = conn.execute(
            "UPDATE steps SET status = 'ready', not_before = now() WHERE cluster_id = %s AND queue = ANY(%s)"
            " AND status = 'succeeded' RETURNING name",
            (world["cluster"], QUEUES),
        ).fetchall()
    assert len(again) == 8  # image, network, groups, balancer, secrets and three nodes
    assert set(drive(world, cloud)) == {"succeeded"}
    after = {kind: sum(r.kind == kind for r in cloud.resources.values()) for kind in ("instance", "image", "network")}
    assert after == before  # the same world: nothing launched, copied or created twice
    assert cluster_row(world)["status"] == status


def test_a_superseded_step_finishing_late_does_not_overwrite_the_newer_status(world):
    cloud = FakeCloud()
    cloud.add_image("local-1", {"strata:signature": image_signature(world)})
    with world["pool"].connection() as conn:  # a newer generation has recorded its own image meanwhile
        conn.execute("UPDATE clusters SET generation = generation + 1, status = %s WHERE id = %s",
                     (Jsonb({"image": "newer"}), world["cluster"]))  # fmt: skip
    drive(world, cloud)
    with world["pool"].connection() as conn:
        finished = {r["name"]: r["status"] for r in conn.execute("SELECT name, status FROM steps").fetchall()}
    assert finished["ensure_image"] == finished["ensure_network"] == "succeeded"  # the old generation's finish
    assert cluster_row(world)["status"] == {"image": "newer"}  # but record nothing over the newer status
