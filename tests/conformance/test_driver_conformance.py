"""What every cloud driver promises the steps, checked the same way on each: idempotent creates by
token, normalized states and errors, ownership by tag, images by tag across regions."""

from __future__ import annotations

import time
import uuid

import pytest

from strata_common.clouds.driver import (
    CONFLICT,
    DELETING,
    GONE,
    NODE_ROLES,
    PENDING,
    READY,
    THROTTLED,
    CloudError,
    LaunchSpec,
)


def owner() -> dict[str, str]:
    return {"strata:cluster": str(uuid.uuid4()), "strata:managed-by": "strata"}


def launch(cloud, tags: dict[str, str], token: str, zone: str | None = None) -> LaunchSpec:
    return LaunchSpec(cloud.region, zone or cloud.zones[0], cloud.instance_type, cloud.image, "#cloud-config\n",
                      tags, token)  # fmt: skip


def settled(cloud, resource):
    """The resource once the cloud no longer calls it pending (nor deleting: a cloud may delete at its pace)."""
    for _ in range(200):
        if resource.state not in (PENDING, DELETING):
            return resource
        time.sleep(0.05)
        resource = cloud.driver.describe([resource.id])[0]
    return resource


def owned_once_deleted(cloud, tags: dict, kinds: tuple[str, ...] | None = None) -> list:
    """What the cloud still lists as owned once the deletes it started have finished (Azure's are
    long-running: a resource being deleted is listed, in state deleting, until it is gone)."""
    for _ in range(200):
        owned = cloud.driver.list_owned(tags, kinds)
        if all(r.state != DELETING for r in owned):
            return owned
        time.sleep(0.05)
    return owned


def test_a_network_has_a_subnet_per_role_and_zone_and_a_token_answers_the_same_one(cloud_with_security_groups):
    cloud = cloud_with_security_groups
    tags = owner()
    first = cloud.driver.ensure_network(cloud.region, "10.0.0.0/16", cloud.zones, tags, "net-1")
    again = cloud.driver.ensure_network(cloud.region, "10.0.0.0/16", cloud.zones, tags, "net-1")
    assert again.id == first.id and again.spec["subnets"] == first.spec["subnets"]
    assert {role: sorted(zones) for role, zones in first.spec["subnets"].items()} == {
        role: sorted(cloud.zones) for role in NODE_ROLES}  # fmt: skip
    ids = [subnet for zones in first.spec["subnets"].values() for subnet in zones.values()]
    if "subnets" not in cloud.capabilities:  # regional subnets (Azure): one per role, serving each zone
        assert len(set(ids)) == len(NODE_ROLES)
        assert all(len(set(zones.values())) == 1 for zones in first.spec["subnets"].values())
        return
    owned = {r.id: r.zone for r in cloud.driver.list_owned(tags) if r.kind == "subnet"}
    assert len(set(ids)) == len(NODE_ROLES) * len(cloud.zones) and set(owned) == set(ids)


GROUPS = {
    "load-balancer": [{"protocol": "tcp", "ports": "6443", "cidrs": ["0.0.0.0/0"], "why": "Kubernetes API"}],
    "control-plane": [
        {"protocol": "tcp", "ports": "6443", "from": ["load-balancer", "control-plane", "workers"], "why": "API"},
        {"protocol": "tcp", "ports": "2379-2380", "from": ["control-plane"], "why": "etcd"},
    ],
    "workers": [
        {"protocol": "tcp", "ports": "10250", "from": ["control-plane"], "why": "kubelet"},
        {"protocol": "tcp", "ports": "30000-32767", "cidrs": ["10.0.0.0/16"], "why": "NodePort services"},
    ],
}


def _as_created(rules: list[dict]) -> set[tuple]:
    return {(r["protocol"], r["ports"], tuple(sorted(r.get("from", []))), tuple(sorted(r.get("cidrs", []))))
            for r in rules}  # fmt: skip


def test_security_groups_are_made_in_two_passes_and_their_rules_name_each_other(cloud_with_security_groups):
    cloud = cloud_with_security_groups
    tags = owner()
    network = cloud.driver.ensure_network(cloud.region, "10.0.0.0/16", cloud.zones, tags, "net")
    made = cloud.driver.ensure_security_groups(cloud.region, network.id, GROUPS, tags, "sg")
    again = cloud.driver.ensure_security_groups(cloud.region, network.id, GROUPS, tags, "sg")
    ids = {name: group.id for name, group in made.items()}
    assert {name: group.id for name, group in again.items()} == ids and len(set(ids.values())) == 3
    for name, rules in GROUPS.items():  # as read back from the cloud, sources resolved to the groups' ids
        resolved = [{**r, "from": [ids[source] for source in r.get("from", [])]} for r in rules]
        assert _as_created(again[name].spec["rules"]) == _as_created(resolved), name
    open_to_all = {n for n, g in again.items() for r in g.spec["rules"] if "0.0.0.0/0" in r.get("cidrs", [])}
    assert open_to_all == {"load-balancer"}
    assert {r.id for r in cloud.driver.list_owned(tags, ("security_group",))} == set(ids.values())


def test_groups_that_name_each_other_are_deleted_within_a_retry(cloud_with_security_groups):
    cloud = cloud_with_security_groups
    tags = owner()
    network = cloud.driver.ensure_network(cloud.region, "10.0.0.0/16", cloud.zones, tags, "net")
    cloud.driver.ensure_security_groups(cloud.region, network.id, GROUPS, tags, "sg")
    for _ in range(2):  # a group another group's rule names may be refused once (a conflict), never twice
        for group in cloud.driver.list_owned(tags, ("security_group",)):
            try:
                cloud.driver.delete(group.id)
            except CloudError as refused:
                assert refused.kind == CONFLICT
    assert owned_once_deleted(cloud, tags, ("security_group",)) == []


def test_a_load_balancer_has_its_group_and_keeps_its_registered_targets(cloud):
    tags = owner()
    network = cloud.driver.ensure_network(cloud.region, "10.0.0.0/16", cloud.zones, tags, "net")
    groups: tuple[str, ...] = ()
    if "security-groups" in cloud.capabilities:
        groups = (
            cloud.driver.ensure_security_groups(cloud.region, network.id, GROUPS, tags, "sg")["load-balancer"].id,
        )
    balancer = cloud.driver.ensure_load_balancer(cloud.region, network.id, 6443, tags, "lb", groups)
    balancer = settled(cloud, balancer)
    assert balancer.spec["dnsName"]
    nodes = [cloud.driver.run_instance(launch(cloud, tags, f"cp-{i}")).id for i in range(2)]
    cloud.driver.register_targets(balancer.id, nodes[:1])
    cloud.driver.register_targets(balancer.id, nodes)  # again, and one more: each is there once
    assert sorted(cloud.driver.describe([balancer.id])[0].spec["targets"]) == sorted(nodes)
    cloud.driver.deregister_targets(balancer.id, nodes[:1])
    cloud.driver.deregister_targets(balancer.id, nodes[:1])  # again: nothing to remove is no error
    assert cloud.driver.describe([balancer.id])[0].spec["targets"] == nodes[1:]


def test_an_os_packs_image_reference_resolves_to_the_regions_image(cloud):
    assert cloud.driver.catalog_image(cloud.region, cloud.reference) == cloud.image
    with pytest.raises(CloudError) as refused:
        cloud.driver.catalog_image(cloud.region, {})
    assert refused.value.user_fixable


def test_one_token_launches_one_instance_which_becomes_ready_and_is_owned(cloud):
    tags = owner()
    first = cloud.driver.run_instance(launch(cloud, tags, "node-1"))
    second = cloud.driver.run_instance(launch(cloud, tags, "node-1"))
    assert first.id == second.id
    assert settled(cloud, first).state == READY
    assert [r.id for r in cloud.driver.list_owned(tags) if r.kind == "instance"] == [first.id]


def test_one_listing_finds_the_instances_of_several_clusters_and_no_others(cloud):
    clusters = [owner() for _ in range(3)]
    launched = [cloud.driver.run_instance(launch(cloud, tags, f"many-{n}")) for n, tags in enumerate(clusters)]
    wanted = (clusters[0]["strata:cluster"], clusters[2]["strata:cluster"])
    found = cloud.driver.list_owned({"strata:cluster": wanted, "strata:managed-by": "strata"}, ("instance",))
    assert sorted(r.id for r in found) == sorted([launched[0].id, launched[2].id])


def test_delete_twice_is_fine_and_what_is_gone_is_no_longer_owned(cloud):
    tags = owner()
    instance = cloud.driver.run_instance(launch(cloud, tags, "node-1"))
    cloud.driver.delete(instance.id)
    cloud.driver.delete(instance.id)
    assert owned_once_deleted(cloud, tags) == []
    assert settled(cloud, cloud.driver.describe([instance.id])[0]).state == GONE


def test_a_quota_refusal_is_user_fixable_with_the_clouds_own_message(cloud):
    tags = owner()
    cloud.driver.run_instance(launch(cloud, tags, "fits"))
    cloud.exhaust_quota()
    with pytest.raises(CloudError) as refused:
        cloud.driver.run_instance(launch(cloud, tags, "does-not-fit"))
    kind, code, words = cloud.quota
    assert refused.value.kind == kind and refused.value.user_fixable
    assert refused.value.code == code and words in refused.value.message  # as the cloud words it


def test_throttling_is_transient_once_the_sdks_own_bounded_retries_are_spent(cloud_with_security_groups):
    cloud = cloud_with_security_groups
    cloud.refuse_next("RunInstances", "RequestLimitExceeded", "Request limit exceeded.", cloud.sdk_attempts)
    with pytest.raises(CloudError) as refused:
        cloud.driver.run_instance(launch(cloud, owner(), "throttled"))
    assert refused.value.kind == THROTTLED and not refused.value.user_fixable
    assert settled(cloud, cloud.driver.run_instance(launch(cloud, owner(), "throttled"))).state == READY


def test_images_are_made_from_an_instance_found_by_tag_and_copied_to_another_region(cloud):
    tags = owner()
    builder = settled(cloud, cloud.driver.run_instance(launch(cloud, tags, "builder")))
    signature = {"strata:signature": uuid.uuid4().hex}
    image = settled(cloud, cloud.driver.create_image(builder.id, {**tags, **signature}, "image-1"))
    assert cloud.driver.create_image(builder.id, {**tags, **signature}, "image-1").id == image.id
    assert [i.id for i in cloud.driver.find_images(cloud.region, signature)] == [image.id]
    assert cloud.driver.find_images(cloud.other_region, signature) == []
    copy = settled(cloud, cloud.driver.copy_image(image.id, cloud.other_region, signature, "copy-1"))
    assert copy.state == READY and copy.region == cloud.other_region
    assert [i.id for i in cloud.driver.find_images(cloud.other_region, signature)] == [copy.id]


def test_an_instance_the_cloud_does_not_show_yet_is_pending_and_its_token_launches_no_second(cloud):
    cloud.lag(2.0)  # EC2 is eventually consistent: a new instance may be "not found" for a while
    try:
        tags = owner()
        first = cloud.driver.run_instance(launch(cloud, tags, "lagging"))
        assert cloud.driver.describe([first.id])[0].state in (PENDING, READY)
        assert cloud.driver.run_instance(launch(cloud, tags, "lagging")).id == first.id  # not a second launch
    finally:
        cloud.lag(0)
    deadline = time.monotonic() + 30
    while cloud.driver.describe([first.id])[0].state != READY and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cloud.driver.describe([first.id])[0].state == READY
    assert [r.id for r in cloud.driver.list_owned(tags) if r.kind == "instance"] == [first.id]
