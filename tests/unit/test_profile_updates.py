"""What a profile update changes: values diff, layers diff and override conflicts (strata_common.packs.updates)."""

from __future__ import annotations

from strata_common.model.cluster import Layer
from strata_common.packs.updates import conflicts, layers_diff, rebased, values_diff

DEFAULTS = {
    ("calico", "3.29.1"): "mtu: 1440\nipam:\n  blockSize: 26\n",
    ("kubernetes", "1.32.1"): "apiServer:\n  auditLog: true\n",
    ("kubernetes", "1.32.2"): "apiServer:\n  auditLog: true\n",
    ("vault", "1.18.0"): "replicas: 1\n",
}


def layer(pack: str, version: str, kind: str, values: str = "") -> Layer:
    return Layer(pack, version, kind, f"id-{pack}-{version}", "digest", values)


def defaults(entry: Layer) -> str:
    return DEFAULTS[(entry.pack, entry.version)]


def test_values_diff_names_each_leaf_added_removed_or_changed():
    old = {"mtu": 1440, "ipam": {"blockSize": 26, "pools": ["a"]}, "gone": True}
    new = {"mtu": 1400, "ipam": {"blockSize": 26, "pools": ["a", "b"]}, "felix": {"logLevel": "info"}}
    assert [c.to_json() for c in values_diff(old, new)] == [
        {"path": "felix.logLevel", "change": "added", "new": "info"},
        {"path": "gone", "change": "removed", "old": True},
        {"path": "ipam.pools", "change": "changed", "old": ["a"], "new": ["a", "b"]},
        {"path": "mtu", "change": "changed", "old": 1440, "new": 1400},
    ]
    assert values_diff(new, new) == []


def test_layers_diff_lists_added_removed_moved_packs_and_flags_node_replacement():
    installed = [layer("kubernetes", "1.32.1", "k8s"), layer("calico", "3.29.1", "cni")]
    latest = [layer("kubernetes", "1.32.2", "k8s"), layer("calico", "3.29.1", "cni", "mtu: 1400\n"),
              layer("vault", "1.18.0", "addon")]  # fmt: skip
    changes = {c.pack: c for c in layers_diff(installed, latest, defaults)}
    assert changes["kubernetes"].change == "changed" and changes["kubernetes"].replaces_nodes
    assert (changes["kubernetes"].old_version, changes["kubernetes"].new_version) == ("1.32.1", "1.32.2")
    assert changes["kubernetes"].values == ()
    assert [v.to_json() for v in changes["calico"].values] == [
        {"path": "mtu", "change": "changed", "old": 1440, "new": 1400}
    ]
    assert not changes["calico"].replaces_nodes
    assert changes["vault"].change == "added" and changes["vault"].values[0].path == "replicas"
    removed = layers_diff(latest, installed, defaults)
    assert [(c.pack, c.change) for c in removed][-1] == ("vault", "removed")
    assert layers_diff(installed, installed, defaults) == []
    assert not any(c.replaces_nodes for c in layers_diff(installed, latest, defaults, replaces=False))


def test_an_overridden_path_the_profile_changes_is_a_conflict_with_all_three_values():
    base, profile = {"mtu": 1440, "ipam": {"blockSize": 26}}, {"mtu": 1400, "ipam": {"blockSize": 24}}
    [found] = conflicts("calico", base, profile, {"mtu": 9000})
    assert found.to_json() == {"pack": "calico", "path": "mtu", "base": 1440, "profile": 1400, "override": 9000}
    # the profile's other change (ipam.blockSize) touches no overridden path: it merges by itself
    assert conflicts("calico", base, profile, {"felix": {"logLevel": "debug"}}) == []
    # an override that already says what the profile now says is no conflict
    assert conflicts("calico", base, profile, {"mtu": 1400}) == []
    # a later revision that leaves mtu alone: no conflict, whatever the override holds
    assert conflicts("calico", profile, {**profile, "extra": 1}, {"mtu": 9000}) == []


def test_removing_a_map_or_the_pack_the_override_edits_is_a_conflict():
    base = {"ipam": {"blockSize": 26}, "mtu": 1440}
    [found] = conflicts("calico", base, {"mtu": 1440}, {"ipam": {"strictAffinity": True}})
    assert found.to_json() == {"pack": "calico", "path": "ipam.strictAffinity", "override": True}
    [gone] = conflicts("calico", base, None, {"mtu": 9000})
    assert gone.to_json() == {"pack": "calico", "path": "mtu", "base": 1440, "override": 9000}


def test_a_rebased_override_keeps_drops_or_sets_each_conflicting_path():
    override = {"mtu": 9000, "ipam": {"blockSize": 24}, "felix": {"logLevel": "debug"}}
    base, profile = {"mtu": 1440, "ipam": {"blockSize": 26}}, {"mtu": 1400, "ipam": {"blockSize": 28}}
    mtu, block = conflicts("calico", base, profile, override)
    assert rebased(override, [(mtu, {"action": "keep-override"}), (block, {"action": "take-profile"})]) == {
        "mtu": 9000,
        "felix": {"logLevel": "debug"},
    }
    assert rebased(override, [(block, {"action": "value", "value": 27})])["ipam"] == {"blockSize": 27}
