"""The `strata` client verbs against a running API: tokens, profiles and clusters from files."""

from __future__ import annotations

import json

import yaml
from api_support import LOCAL_PROFILE, cluster_request

from helpers import run_strata


def test_token_profile_and_cluster_verbs(api_base, strata_env, tmp_path):
    created = run_strata(strata_env, "token", "create", "--project", "team-a", "--role", "operator")
    assert created.returncode == 0, created.stderr
    env = {**strata_env, "STRATA_API_URL": api_base, "STRATA_TOKEN": created.stdout.strip()}

    profile_file = tmp_path / "profile.yaml"
    profile_file.write_text(yaml.safe_dump(LOCAL_PROFILE))
    profile = run_strata(env, "profile", "create", "-f", str(profile_file), "-o", "json")
    assert profile.returncode == 0, profile.stderr
    profile_id = json.loads(profile.stdout)["id"]
    account = run_strata(env, "cloudaccount", "create", "-f", "-", "-o", "json", stdin="name: lab\ncloud: local\n")
    account_id = json.loads(account.stdout)["id"]

    cluster_file = tmp_path / "cluster.json"
    cluster_file.write_text(json.dumps(cluster_request(profile_id, account_id)))
    cluster = run_strata(env, "cluster", "create", "-f", str(cluster_file), "-o", "yaml")
    assert cluster.returncode == 0, cluster.stderr
    cluster_id = yaml.safe_load(cluster.stdout)["id"]

    table = run_strata(env, "cluster", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "PHASE", "GENERATION", "POOLS"]
    assert table[1].split() == [cluster_id, "demo", "Provisioning", "1", "cp,workers"]
    assert json.loads(run_strata(env, "cluster", "get", cluster_id, "-o", "json").stdout)["name"] == "demo"

    again = run_strata(env, "cluster", "create", "-f", str(cluster_file))
    assert again.returncode == 1
    assert again.stderr.startswith("strata: 409 conflict: a cluster named 'demo' exists")
    bad = run_strata(env, "profile", "create", "-f", "-", stdin="name: x\nlayers: []\n")
    assert bad.returncode == 1 and "layers" in bad.stderr

    deleted = run_strata(env, "cluster", "delete", cluster_id, "-o", "json")
    assert json.loads(deleted.stdout)["phase"] == "Deleting"
    unauthenticated = run_strata({**env, "STRATA_TOKEN": "strata_wrong"}, "cluster", "list")
    assert unauthenticated.returncode == 1 and "401" in unauthenticated.stderr
