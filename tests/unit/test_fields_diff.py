"""The field-by-field diff a dry run shows for an object the apply would change."""

from strata_common.kube.preview import fields_diff


def deployment(args: list[str], env: list[dict], image: str = "prom/prometheus:v2.54.1") -> dict:
    container = {"name": "prometheus", "image": image, "args": args, "env": env}
    return {"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "sidecar"}, container]}}}}


def test_named_lists_are_matched_by_name_and_scalar_lists_shown_whole():
    old = deployment(["--retention=15d"], [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    new = deployment(["--retention=30d"], [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
    base = "spec.template.spec.containers[name=prometheus]"
    assert fields_diff(old, new) == [
        {"path": f"{base}.args", "change": "changed", "old": ["--retention=15d"], "new": ["--retention=30d"]},
        {"path": f"{base}.env[name=A]", "change": "removed"},
        {"path": f"{base}.env[name=B].value", "change": "changed", "old": "2", "new": "3"},
        {"path": f"{base}.env[name=C]", "change": "added"},
    ]


def test_keys_added_and_removed_and_unnamed_lists_item_by_item():
    old = {"data": {"a": "1", "gone": "x"}, "rules": [{"verbs": ["get"]}, {"verbs": ["list"]}]}
    new = {"data": {"a": "2", "new": "y"}, "rules": [{"verbs": ["get"]}, {"verbs": ["watch"]}]}
    assert fields_diff(old, new) == [
        {"path": "data.a", "change": "changed", "old": "1", "new": "2"},
        {"path": "data.gone", "change": "removed", "old": "x"},
        {"path": "data.new", "change": "added", "new": "y"},
        {"path": "rules[1].verbs", "change": "changed", "old": ["list"], "new": ["watch"]},
    ]
    assert fields_diff(old, old) == []
    assert fields_diff({"rules": [{"a": 1}]}, {"rules": [{"a": 1}, {"b": 2}]}) == [
        {"path": "rules", "change": "changed"}
    ]
