"""Kubernetes protobuf bodies decode to the JSON the API server would store."""

from __future__ import annotations

import pytest

from strata_localcloud.kubeapi import protobuf


def envelope(api_version: str, kind: str, message) -> bytes:
    unknown = protobuf._message_class("k8s.io.apimachinery.pkg.runtime.Unknown")()
    unknown.typeMeta.apiVersion, unknown.typeMeta.kind = api_version, kind
    unknown.raw = message.SerializeToString()
    return protobuf.MAGIC + unknown.SerializeToString()


def test_a_pod_decodes_with_times_quantities_int_or_strings_inline_structs_and_empties_left_out():
    pod = protobuf._message_class("k8s.io.api.core.v1.Pod")()
    pod.metadata.name, pod.metadata.generateName = "web", ""
    pod.metadata.labels["app"] = "web"
    pod.metadata.creationTimestamp.seconds = 1_767_225_600  # 2026-01-01T00:00:00Z
    container = pod.spec.containers.add(name="web", image="nginx:1.27")
    container.resources.limits["memory"].string = "256Mi"
    container.livenessProbe.handler.httpGet.port.type = 1
    container.livenessProbe.handler.httpGet.port.strVal = "http"
    container.readinessProbe.handler.httpGet.port.intVal = 8080
    container.envFrom.add().configMapRef.localObjectReference.name = "settings"
    volume = pod.spec.volumes.add(name="data")
    volume.volumeSource.emptyDir.sizeLimit.string = "1Gi"
    pod.spec.automountServiceAccountToken = False
    pod.spec.terminationGracePeriodSeconds = 0

    assert protobuf.decode(envelope("v1", "Pod", pod)) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "containers": [{"name": "web", "image": "nginx:1.27", "resources": {"limits": {"memory": "256Mi"}},
                            "livenessProbe": {"httpGet": {"port": "http"}},
                            "readinessProbe": {"httpGet": {"port": 8080}},
                            "envFrom": [{"configMapRef": {"name": "settings"}}]}],
            "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}],  # inline structs move up
            "automountServiceAccountToken": False,  # explicit false and zero survive
            "terminationGracePeriodSeconds": 0,
        },
    }  # fmt: skip


def test_secret_bytes_are_base64_and_group_kinds_find_their_package():
    secret = protobuf._message_class("k8s.io.api.core.v1.Secret")()
    secret.metadata.name = "creds"
    secret.data["token"] = b"s3cr3t"
    assert protobuf.decode(envelope("v1", "Secret", secret))["data"] == {"token": "czNjcjN0"}
    binding = protobuf._message_class("k8s.io.api.rbac.v1.ClusterRoleBinding")()
    binding.roleRef.kind, binding.roleRef.name = "ClusterRole", "view"
    decoded = protobuf.decode(envelope("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", binding))
    assert decoded["roleRef"] == {"kind": "ClusterRole", "name": "view"}


def test_what_is_not_a_known_protobuf_object_is_refused():
    with pytest.raises(protobuf.NotDecodable, match="magic"):
        protobuf.decode(b'{"kind": "Pod"}')
    with pytest.raises(protobuf.NotDecodable, match="no protobuf type"):
        protobuf.decode(envelope("example.com/v1", "Widget", protobuf._message_class("k8s.io.api.core.v1.Pod")()))
    with pytest.raises(protobuf.NotDecodable, match="not valid protobuf"):
        protobuf.decode(protobuf.MAGIC + b"\xff\xff\xff")
