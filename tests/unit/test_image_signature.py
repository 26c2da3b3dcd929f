"""The image decision (as it is, or a build with which roles) and the signature that names a build."""

from __future__ import annotations

import copy

import pytest

from strata_imagebuilder.signature import KUBERNETES_ROLE, plan_image

ROLE_FILE = "roles/agent/tasks/main.yml"


def os_pack(skip: bool, roles: bool) -> dict:
    return {
        "name": "acme-os", "version": "1.0.0", "layer": "os", "digest": "sha256:x", "values": "{}\n",
        "os": {"family": "ubuntu", "version": "24.04", "skipK8sInstall": skip, "roles": ["agent"] if roles else [],
               "images": {"local": {"image": "ubuntu-24.04"}}},
        "roleFiles": {ROLE_FILE: "- name: agent\n  ansible.builtin.debug: {}\n"} if roles else {},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("skip", "roles", "build", "ran"),
    [
        (True, False, False, []),
        (True, True, True, ["agent"]),
        (False, False, True, [KUBERNETES_ROLE]),
        (False, True, True, ["agent", KUBERNETES_ROLE]),
    ],
)
def test_the_four_cases_decide_correctly(skip, roles, build, ran):
    plan = plan_image(os_pack(skip, roles), {}, "1.32.1")
    assert (plan.build, plan.roles) == (build, ran)
    assert ("used as it is" in plan.reason) is not build
    assert ("roles agent must run" in plan.reason) is roles
    assert ("Kubernetes 1.32.1 must be installed" in plan.reason) is (not skip)
    assert ("kubernetes_version" in plan.variables) is (not skip)


def test_signature_is_stable_and_changes_with_what_goes_into_the_image():
    pack = os_pack(False, True)
    signature = plan_image(pack, {"motd": "hi"}, "1.32.1").signature
    assert plan_image(copy.deepcopy(pack), {"motd": "hi"}, "1.32.1").signature == signature
    assert plan_image({**pack, "digest": "sha256:other"}, {"motd": "hi"}, "1.32.1").signature == signature
    one_byte = copy.deepcopy(pack)
    one_byte["roleFiles"][ROLE_FILE] += " "
    assert plan_image(one_byte, {"motd": "hi"}, "1.32.1").signature != signature
    assert plan_image(pack, {"motd": "hello"}, "1.32.1").signature != signature
    assert plan_image(pack, {"motd": "hi"}, "1.33.0").signature != signature


def test_without_the_kubernetes_install_its_version_does_not_matter():
    pack = os_pack(True, True)
    assert plan_image(pack, {}, "1.32.1").signature == plan_image(pack, {}, "1.33.0").signature
