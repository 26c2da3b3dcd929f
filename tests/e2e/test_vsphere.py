"""vSphere accounts through the API against vcsim (behind the fault proxy, tests/vsphere_support.py):
the account is checked by logging in and finding its datacenter, and a refusal names what to fix."""

from __future__ import annotations

INVALID_LOGIN = "Cannot complete login due to an incorrect user name or password."


def vsphere_account(vcsim, **config) -> dict:
    return {"name": "lab", "cloud": "vsphere",
            "config": {"host": f"{vcsim.host}:{vcsim.port}", "datacenter": "DC0", "insecure": True,
                       "portGroups": {"control-plane": "DC0_DVPG0", "workers": "DC0_DVPG1"},
                       "vipPool": "10.20.0.10-10.20.0.50", **config},
            "credentials": {"username": vcsim.user, "password": vcsim.password}}  # fmt: skip


def test_an_account_is_checked_with_vcenter_and_a_refusal_names_what_to_fix(clients, vcsim):
    op = clients["operator"]
    created = op.post("/v1/cloudaccounts", vsphere_account(vcsim))
    assert created.status_code == 201, created.text
    assert vcsim.password not in created.text

    wrong_place = op.post("/v1/cloudaccounts", {**vsphere_account(vcsim, datacenter="Nowhere"), "name": "lab2"})
    assert wrong_place.status_code == 422, wrong_place.text
    said = wrong_place.json()["error"]["fields"]["config.datacenter"][0]
    assert "Nowhere" in said and "DC0" in said  # what vCenter has

    vcsim.refuse("Login", "InvalidLogin", INVALID_LOGIN)
    refused = op.post("/v1/cloudaccounts", {**vsphere_account(vcsim), "name": "lab3"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["fields"]["credentials"] == [f"InvalidLogin: {INVALID_LOGIN}"]
    assert vcsim.password not in refused.text

    unchecked = op.post("/v1/cloudaccounts", {**vsphere_account(vcsim, insecure=False), "name": "lab4"})
    assert unchecked.status_code == 422  # no way to check vCenter's certificate was given
    assert "config.thumbprint" in unchecked.json()["error"]["fields"]
