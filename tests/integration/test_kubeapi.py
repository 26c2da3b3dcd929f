"""The Kubernetes API emulator against what a real API server guarantees, through the official client.

Set STRATA_TEST_KUBECONFIG to a kubeconfig file to run the same tests against a real cluster.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import subprocess
import threading
import uuid

import pytest
import yaml
from kube_support import emulated_cluster, start_kubeapi
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import dynamic, watch
from kubernetes.client.rest import ApiException

from helpers import wait_until

MANAGER = "strata-test"


@pytest.fixture
def kubeconfig(processes, strata_env, database_url, tmp_path) -> str:
    """The path of the cluster's admin kubeconfig: STRATA_TEST_KUBECONFIG, or an emulated cluster's."""
    if os.environ.get("STRATA_TEST_KUBECONFIG"):
        return os.environ["STRATA_TEST_KUBECONFIG"]
    cluster = emulated_cluster(database_url, start_kubeapi(processes, strata_env))
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(cluster.kubeconfig))
    return str(path)


@pytest.fixture
def kube(kubeconfig) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(kubeconfig, client_configuration=configuration)
    return k8s.ApiClient(configuration)


@pytest.fixture
def namespace(kube) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    k8s.CoreV1Api(kube).create_namespace({"metadata": {"name": name}})
    return name


def deployment(name: str, image: str = "nginx:1.27", replicas: int = 2) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}  # fmt: skip


def resource(kube, api_version: str, kind: str):
    return dynamic.DynamicClient(kube).resources.get(api_version=api_version, kind=kind)


def test_discovery_lists_groups_resources_and_version(kube):
    version = k8s.VersionApi(kube).get_code()
    assert version.major == "1" and version.git_version.startswith("v1.")
    groups = {g.name for g in k8s.ApisApi(kube).get_api_versions().groups}
    assert {"apps", "batch", "rbac.authorization.k8s.io", "networking.k8s.io", "storage.k8s.io",
            "apiextensions.k8s.io"} <= groups  # fmt: skip
    core = {r.name: r for r in k8s.CoreV1Api(kube).get_api_resources().resources}
    assert core["pods"].namespaced and not core["namespaces"].namespaced and "pods/status" in core
    assert "watch" in core["configmaps"].verbs
    apps = {r.name for r in k8s.AppsV1Api(kube).get_api_resources().resources}
    assert {"deployments", "statefulsets", "daemonsets"} <= apps


def test_server_side_apply_creates_updates_conflicts_and_forces(kube, namespace):
    deployments = resource(kube, "apps/v1", "Deployment")
    created = deployments.server_side_apply(deployment("web"), namespace=namespace, field_manager=MANAGER)
    assert created.metadata.generation == 1 and created.metadata.uid
    assert [m.manager for m in created.metadata.managedFields] == [MANAGER]

    again = deployments.server_side_apply(deployment("web"), namespace=namespace, field_manager=MANAGER)
    assert again.metadata.generation == 1  # nothing changed (status may have: controllers write it)

    updated = deployments.server_side_apply(deployment("web", image="nginx:1.28"), namespace=namespace,
                                            field_manager=MANAGER)  # fmt: skip
    assert updated.metadata.generation == 2
    assert int(updated.metadata.resourceVersion) > int(again.metadata.resourceVersion)
    assert updated.spec.template.spec.containers[0].image == "nginx:1.28"
    apps = k8s.AppsV1Api(kube)

    def observed():
        seen = apps.read_namespaced_deployment("web", namespace)
        return seen if seen.status and seen.status.observed_generation == 2 else None

    assert (
        wait_until(observed, timeout=20, message="rollout observed").metadata.generation == 2
    )  # status writes keep it

    # Someone else changes replicas with an update: the next apply of another value conflicts.
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 5}}, field_manager="kubectl-edit")
    with pytest.raises(ApiException) as conflict:
        deployments.server_side_apply(deployment("web", image="nginx:1.28", replicas=3), namespace=namespace,
                                      field_manager=MANAGER)  # fmt: skip
    assert conflict.value.status == 409
    body = yaml.safe_load(conflict.value.body)
    assert body["reason"] == "Conflict"
    assert body["details"]["causes"][0]["field"] == ".spec.replicas"
    assert "kubectl-edit" in body["details"]["causes"][0]["message"]

    forced = deployments.server_side_apply(deployment("web", image="nginx:1.28", replicas=3), namespace=namespace,
                                           field_manager=MANAGER, force_conflicts=True)  # fmt: skip
    assert forced.spec.replicas == 3
    owners = {m["manager"]: m["fieldsV1"] for m in forced.to_dict()["metadata"]["managedFields"]}
    assert "f:replicas" in owners[MANAGER]["f:spec"]
    assert "f:replicas" not in owners.get("kubectl-edit", {}).get("f:spec", {})

    # A field the manager no longer applies is removed.
    trimmed = deployment("web", image="nginx:1.28", replicas=3)
    trimmed["metadata"]["labels"] = {"tier": "front"}
    result = deployments.server_side_apply(trimmed, namespace=namespace, field_manager=MANAGER)
    assert result.to_dict()["metadata"]["labels"] == {"tier": "front"}


def test_merge_strategic_and_json_patches_and_optimistic_concurrency(kube, namespace):
    core = k8s.CoreV1Api(kube)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}})
    merged = core.patch_namespaced_config_map("cfg", namespace, {"data": {"a": None, "c": "3"}})
    assert merged.data == {"b": "2", "c": "3"}
    assert merged.metadata.generation is None  # as a real API server: a ConfigMap keeps no generation

    apps = k8s.AppsV1Api(kube)
    body = deployment("api")
    body["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox:1.36"})
    apps.create_namespaced_deployment(namespace, body)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.29"}]}}}}
    patched = apps.patch_namespaced_deployment("api", namespace, patch)  # strategic: merged by container name
    images = {c.name: c.image for c in patched.spec.template.spec.containers}
    assert images == {"web": "nginx:1.29", "sidecar": "busybox:1.36"}

    stale = core.read_namespaced_config_map("cfg", namespace)
    core.patch_namespaced_config_map("cfg", namespace, [{"op": "add", "path": "/data/d", "value": "4"}])
    assert core.read_namespaced_config_map("cfg", namespace).data["d"] == "4"
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("cfg", namespace, stale)
    assert conflict.value.status == 409
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}})
    assert exists.value.status == 409 and yaml.safe_load(exists.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("nope", namespace)
    assert missing.value.status == 404


def test_label_and_field_selectors(kube, namespace):
    core = k8s.CoreV1Api(kube)
    for name, labels in (("a", {"tier": "web", "env": "prod"}), ("b", {"tier": "db", "env": "prod"}),
                         ("c", {"tier": "web"})):  # fmt: skip
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})

    def names(**selectors) -> list[str]:
        return sorted(i.metadata.name for i in core.list_namespaced_config_map(namespace, **selectors).items)

    assert names(label_selector="tier=web") == ["a", "c"]
    assert names(label_selector="tier=web,env=prod") == ["a"]
    assert names(label_selector="env!=prod") == ["c"]
    assert names(label_selector="tier in (db, cache)") == ["b"]
    assert names(label_selector="!env") == ["c"]
    assert names(label_selector="env") == ["a", "b"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b", label_selector="tier=web") == ["a", "c"]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_config_map(namespace, field_selector="data.x=1")
    assert bad.value.status == 400

    page = core.list_namespaced_config_map(namespace, limit=2)
    rest = core.list_namespaced_config_map(namespace, limit=2, _continue=page.metadata._continue)
    assert [i.metadata.name for i in page.items + rest.items] == ["a", "b", "c"]


def test_watch_streams_added_modified_deleted(kube, namespace):
    core = k8s.CoreV1Api(kube)
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: list[tuple[str, str]] = []
    stream = watch.Watch()

    def follow():
        for event in stream.stream(core.list_namespaced_config_map, namespace, resource_version=start,
                                   timeout_seconds=20):  # fmt: skip
            seen.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                stream.stop()

    follower = threading.Thread(target=follow)
    follower.start()
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "w"}, "data": {"x": "1"}})
    core.patch_namespaced_config_map("w", namespace, {"data": {"x": "2"}})
    core.delete_namespaced_config_map("w", namespace)
    follower.join(25)
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_deleting_a_namespace_deletes_its_objects(kube, namespace):
    core = k8s.CoreV1Api(kube)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}})
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "robot"}})
    core.delete_namespace(namespace)

    def gone() -> bool:
        try:
            core.read_namespace(namespace)
        except ApiException as err:
            return err.status == 404
        return False

    wait_until(gone, timeout=60, message="the namespace to be deleted")
    assert not [c for c in core.list_config_map_for_all_namespaces().items if c.metadata.namespace == namespace]
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "late"}})
    assert missing.value.status == 404


def test_custom_resource_definitions_register_new_resources(kube, namespace):
    group = f"g{uuid.uuid4().hex[:6]}.strata.test"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"backups.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "backups", "singular": "backup", "kind": "Backup"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                             "x-kubernetes-preserve-unknown-fields": True}}}]}}  # fmt: skip
    extensions = k8s.ApiextensionsV1Api(kube)
    extensions.create_custom_resource_definition(crd)
    wait_until(lambda: any(g.name == group for g in k8s.ApisApi(kube).get_api_versions().groups),
               timeout=30, message="the CRD's group in discovery")  # fmt: skip
    custom = k8s.CustomObjectsApi(kube)
    backup = {"apiVersion": f"{group}/v1", "kind": "Backup", "metadata": {"name": "nightly"},
              "spec": {"schedule": "0 2 * * *"}}  # fmt: skip
    custom.create_namespaced_custom_object(group, "v1", namespace, "backups", backup)
    got = custom.get_namespaced_custom_object(group, "v1", namespace, "backups", "nightly")
    assert got["spec"]["schedule"] == "0 2 * * *" and got["metadata"]["uid"]
    listed = resource(kube, f"{group}/v1", "Backup").get(namespace=namespace)
    assert [i.metadata.name for i in listed.items] == ["nightly"]

    extensions.delete_custom_resource_definition(f"backups.{group}")
    wait_until(lambda: all(g.name != group for g in k8s.ApisApi(kube).get_api_versions().groups),
               timeout=30, message="the CRD's group to leave discovery")  # fmt: skip


def test_the_server_fills_in_defaults_and_allocates_service_addresses(kube, namespace):
    apps, core = k8s.AppsV1Api(kube), k8s.CoreV1Api(kube)
    web = deployment("web", image="nginx")  # no tag: latest
    web["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    created = apps.create_namespaced_deployment(namespace, web)
    assert created.status is not None  # built-in kinds carry a status from the start, empty until reported
    assert created.spec.strategy.type == "RollingUpdate"
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    assert (created.spec.revision_history_limit, created.spec.progress_deadline_seconds) == (10, 600)
    pod = created.spec.template.spec
    assert (pod.restart_policy, pod.dns_policy, pod.termination_grace_period_seconds) == ("Always", "ClusterFirst", 30)
    container = pod.containers[0]
    assert container.image_pull_policy == "Always" and container.ports[0].protocol == "TCP"
    assert container.termination_message_path == "/dev/termination-log"
    pinned = apps.create_namespaced_deployment(namespace, deployment("pinned", image="nginx:1.27"))
    assert pinned.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"

    def service(name: str, kind: str = "ClusterIP", version: str | None = None) -> dict:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "resourceVersion": version},
                "spec": {"type": kind, "selector": {"app": "web"}, "ports": [{"port": 80}]}}  # fmt: skip

    first = core.create_namespaced_service(namespace, service("one"))
    second = core.create_namespaced_service(namespace, service("two", "NodePort"))
    assert first.spec.cluster_ip != second.spec.cluster_ip
    assert all(ipaddress.ip_address(s.spec.cluster_ip) for s in (first, second))
    assert first.spec.ports[0].target_port == 80 and first.spec.ports[0].protocol == "TCP"
    assert first.spec.session_affinity == "None" and first.spec.ports[0].node_port is None
    node_port = second.spec.ports[0].node_port
    assert 30000 <= node_port <= 32767

    omitting = service("two", "NodePort", second.metadata.resource_version)  # neither clusterIP nor nodePort
    replaced = core.replace_namespaced_service("two", namespace, omitting)
    assert (replaced.spec.cluster_ip, replaced.spec.ports[0].node_port) == (second.spec.cluster_ip, node_port)
    moved = service("one", version=first.metadata.resource_version)
    moved["spec"]["clusterIP"] = second.spec.cluster_ip
    with pytest.raises(ApiException) as refused:
        core.replace_namespaced_service("one", namespace, moved)
    assert refused.value.status == 422 and "spec.clusterIP" in json.loads(refused.value.body)["message"]


def test_workloads_become_available_and_bad_images_do_not(kube, namespace):
    apps = k8s.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, deployment("good", replicas=2))
    apps.create_namespaced_deployment(namespace, deployment("bad", image="registry.invalid/app:1", replicas=1))

    def available(name: str) -> bool:
        status = apps.read_namespaced_deployment_status(name, namespace).status
        return (status.available_replicas or 0) == 2

    wait_until(lambda: available("good"), timeout=60, message="deployment good to be available")
    pods = k8s.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector="app=good").items
    assert len(pods) == 2 and all(p.status.phase == "Running" and p.spec.node_name for p in pods)

    def pull_failure() -> str | None:
        pods = k8s.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector="app=bad").items
        statuses = [s for p in pods for s in (p.status.container_statuses or [])]
        return next((s.state.waiting.reason for s in statuses if s.state.waiting and s.state.waiting.reason
                     in ("ErrImagePull", "ImagePullBackOff")), None)  # fmt: skip

    assert wait_until(pull_failure, timeout=60, message="the bad image to fail to pull")
    assert not apps.read_namespaced_deployment_status("bad", namespace).status.available_replicas


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (the CI machines have it)")
def test_kubectl_creates_applies_rolls_out_scales_and_deletes(kubeconfig):
    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    assert json.loads(kubectl("version", "-o", "json"))["serverVersion"]["gitVersion"].startswith("v1.")
    resources = kubectl("api-resources", "-o", "name").split()
    assert {"deployments.apps", "namespaces", "customresourcedefinitions.apiextensions.k8s.io"} <= set(resources)
    namespace = f"k-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", namespace)

    web = yaml.safe_dump(deployment("web", replicas=2))
    kubectl("apply", "-n", namespace, "--server-side", "--field-manager", MANAGER, "-f", "-", stdin=web)
    kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=90s")
    pods = kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "name").split()
    assert len(pods) == 2

    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1", "b": "2"}}
    kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(config))  # client-side: last-applied
    config["data"] = {"a": "10"}
    kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(config))
    live = json.loads(kubectl("get", "configmap", "settings", "-n", namespace, "-o", "json"))
    assert live["data"] == {"a": "10"}  # b was applied before and is no longer: three-way merge removes it

    # kubectl create's generators send protobuf (Go clients do for built-in types)
    kubectl("create", "deployment", "api", "-n", namespace, "--image=nginx:1.27", "--replicas=2", "--port=8080")
    kubectl("create", "service", "clusterip", "api", "-n", namespace, "--tcp=80:8080")
    kubectl("create", "secret", "generic", "creds", "-n", namespace, "--from-literal=token=s3cr3t")
    api = json.loads(kubectl("get", "deployment", "api", "-n", namespace, "-o", "json"))
    assert api["spec"]["replicas"] == 2 and api["metadata"]["labels"] == {"app": "api"}
    assert api["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080
    assert api["metadata"]["creationTimestamp"].endswith("Z")
    service = json.loads(kubectl("get", "service", "api", "-n", namespace, "-o", "json"))
    assert service["spec"]["ports"][0]["port"] == 80 and service["spec"]["ports"][0]["targetPort"] == 8080
    listed = kubectl("get", "service", "api", "-n", namespace).splitlines()[1].split()
    assert listed[:2] == ["api", "ClusterIP"] and listed[2] == service["spec"]["clusterIP"] and listed[4] == "80/TCP"
    secret = json.loads(kubectl("get", "secret", "creds", "-n", namespace, "-o", "json"))
    assert base64.b64decode(secret["data"]["token"]) == b"s3cr3t"
    kubectl("rollout", "status", "-n", namespace, "deployment/api", "--timeout=90s")

    kubectl("scale", "-n", namespace, "deployment/web", "--replicas=3")
    kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=90s")
    assert len(kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "name").split()) == 3
    printed = kubectl("get", "pods", "-n", namespace, "-l", "app=web").splitlines()  # the server's Table
    assert printed[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(printed) == 4 and all(line.split()[1:3] == ["1/1", "Running"] for line in printed[1:])
    assert kubectl("get", "deployment", "web", "-n", namespace).splitlines()[1].split()[:4] == ["web", "3/3", "3", "3"]
    everything = kubectl("get", "all", "-n", namespace, "-o", "name").split()
    assert {"deployment.apps/web", "deployment.apps/api", "service/api"} <= set(everything)
    assert any(n.startswith("pod/web-") for n in everything) and any(
        n.startswith("replicaset.apps/") for n in everything
    )
    kubectl("delete", "namespace", namespace, "--timeout=90s")
    assert namespace not in kubectl("get", "namespaces", "-o", "name")


@pytest.mark.skipif(bool(os.environ.get("STRATA_TEST_KUBECONFIG")), reason="the emulated cluster's own instances")
def test_nodes_are_the_clusters_node_instances_and_ready(kube):
    core = k8s.CoreV1Api(kube)

    def nodes() -> list:
        found = core.list_node().items
        return found if len(found) >= 3 and all(n.status.conditions for n in found) else []

    found = wait_until(nodes, timeout=30, message="three nodes")
    assert sorted(n.metadata.name for n in found) == ["node-0", "node-1", "node-2"]  # not the image builder
    control = next(n for n in found if n.metadata.name == "node-0")
    assert "node-role.kubernetes.io/control-plane" in control.metadata.labels and control.spec.taints
    assert all(c.status == "True" for n in found for c in n.status.conditions if c.type == "Ready")


def test_service_account_tokens_authenticate_and_rbac_authorizes_them(kube, namespace):
    """A TokenRequest's token is its service account's (401 once the account is gone, and without any
    credential); what it may do is what its Roles and ClusterRoles bound to it grant (403 otherwise)."""
    core, rbac = k8s.CoreV1Api(kube), k8s.RbacAuthorizationV1Api(kube)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    with pytest.raises(ApiException) as short:
        core.create_namespaced_service_account_token("reader", namespace, {"spec": {"expirationSeconds": 60}})
    assert short.value.status == 422
    token = core.create_namespaced_service_account_token("reader", namespace, {"spec": {}}).status.token

    def as_reader(credential: str | None) -> k8s.CoreV1Api:
        config = k8s.Configuration(host=kube.configuration.host)
        config.ssl_ca_cert, config.tls_server_name = kube.configuration.ssl_ca_cert, kube.configuration.tls_server_name
        if credential:
            config.api_key = {"authorization": f"Bearer {credential}"}
        return k8s.CoreV1Api(k8s.ApiClient(config))

    def status_of(call) -> int:
        with pytest.raises(ApiException) as refused:
            call()
        return refused.value.status

    reader = as_reader(token)
    assert status_of(lambda: as_reader(None).list_namespaced_pod(namespace)) == 401
    assert status_of(lambda: as_reader(token[:-4] + "AAAA").list_namespaced_pod(namespace)) == 401
    with pytest.raises(ApiException) as forbidden:
        reader.list_namespaced_pod(namespace)
    assert forbidden.value.status == 403
    assert json.loads(forbidden.value.body)["message"] == (
        f'pods is forbidden: User "system:serviceaccount:{namespace}:reader" cannot list resource "pods" in API '
        f'group "" in the namespace "{namespace}"')  # fmt: skip

    rbac.create_namespaced_role(namespace, {"metadata": {"name": "pods"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})  # fmt: skip
    rbac.create_namespaced_role_binding(namespace, {"metadata": {"name": "pods"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}]})  # fmt: skip
    wait_until(lambda: reader.list_namespaced_pod(namespace).items == [], timeout=10, message="the binding in force")
    assert status_of(lambda: reader.list_namespaced_pod(namespace, watch=True, timeout_seconds=1)) == 403
    assert status_of(lambda: reader.list_namespaced_pod("default")) == 403  # a Role is its namespace's only
    assert status_of(lambda: reader.list_namespaced_config_map(namespace)) == 403

    core.delete_namespaced_service_account("reader", namespace)  # the bound token ends with its account
    wait_until(lambda: status_of(lambda: reader.list_namespaced_pod(namespace)) == 401, timeout=10,
               message="the token refused")  # fmt: skip
