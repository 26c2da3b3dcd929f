"""What a kubeadm node of a Strata cluster really runs with, from the kubeadm documents Strata gives it:
each control-plane component's flags (the ones kubeadm v1beta4 writes into its static pod manifest, then
the ClusterConfiguration's `extraArgs` on top, as kubeadm merges them), the kubelet's configuration
(kubeadm's defaults, then the KubeletConfiguration document), and the files kubeadm writes with their
modes and owners (the kubelet's config file as Strata's cloud-init leaves it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PKI = "/etc/kubernetes/pki"
# kube-apiserver, kube-controller-manager, kube-scheduler and etcd as kubeadm 1.32 writes them
DEFAULT_FLAGS: dict[str, dict[str, str]] = {
    "apiserver": {
        "advertise-address": "<node address>", "allow-privileged": "true", "authorization-mode": "Node,RBAC",
        "client-ca-file": f"{PKI}/ca.crt", "enable-admission-plugins": "NodeRestriction",
        "enable-bootstrap-token-auth": "true", "etcd-cafile": f"{PKI}/etcd/ca.crt",
        "etcd-certfile": f"{PKI}/apiserver-etcd-client.crt", "etcd-keyfile": f"{PKI}/apiserver-etcd-client.key",
        "etcd-servers": "https://127.0.0.1:2379",
        "kubelet-client-certificate": f"{PKI}/apiserver-kubelet-client.crt",
        "kubelet-client-key": f"{PKI}/apiserver-kubelet-client.key",
        "kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
        "proxy-client-cert-file": f"{PKI}/front-proxy-client.crt",
        "proxy-client-key-file": f"{PKI}/front-proxy-client.key",
        "requestheader-allowed-names": "front-proxy-client",
        "requestheader-client-ca-file": f"{PKI}/front-proxy-ca.crt",
        "secure-port": "6443", "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
        "service-account-key-file": f"{PKI}/sa.pub", "service-account-signing-key-file": f"{PKI}/sa.key",
        "service-cluster-ip-range": "10.96.0.0/12", "tls-cert-file": f"{PKI}/apiserver.crt",
        "tls-private-key-file": f"{PKI}/apiserver.key",
    },
    "controllermanager": {
        "authentication-kubeconfig": "/etc/kubernetes/controller-manager.conf",
        "authorization-kubeconfig": "/etc/kubernetes/controller-manager.conf", "bind-address": "127.0.0.1",
        "client-ca-file": f"{PKI}/ca.crt", "cluster-signing-cert-file": f"{PKI}/ca.crt",
        "cluster-signing-key-file": f"{PKI}/ca.key", "controllers": "*,bootstrapsigner,tokencleaner",
        "kubeconfig": "/etc/kubernetes/controller-manager.conf", "leader-elect": "true",
        "requestheader-client-ca-file": f"{PKI}/front-proxy-ca.crt", "root-ca-file": f"{PKI}/ca.crt",
        "service-account-private-key-file": f"{PKI}/sa.key", "use-service-account-credentials": "true",
    },
    "scheduler": {
        "authentication-kubeconfig": "/etc/kubernetes/scheduler.conf",
        "authorization-kubeconfig": "/etc/kubernetes/scheduler.conf", "bind-address": "127.0.0.1",
        "kubeconfig": "/etc/kubernetes/scheduler.conf", "leader-elect": "true",
    },
    "etcd": {
        "cert-file": f"{PKI}/etcd/server.crt", "key-file": f"{PKI}/etcd/server.key", "client-cert-auth": "true",
        "peer-cert-file": f"{PKI}/etcd/peer.crt", "peer-key-file": f"{PKI}/etcd/peer.key",
        "peer-client-cert-auth": "true", "trusted-ca-file": f"{PKI}/etcd/ca.crt",
        "peer-trusted-ca-file": f"{PKI}/etcd/ca.crt", "data-dir": "/var/lib/etcd",
    },
}  # fmt: skip
PACK_PARTS = {"apiServer": "apiserver", "controllerManager": "controllermanager", "scheduler": "scheduler"}
# The KubeletConfiguration kubeadm writes before the pack's settings are merged in
DEFAULT_KUBELET: dict[str, Any] = {
    "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                       "x509": {"clientCAFile": f"{PKI}/ca.crt"}},
    "authorization": {"mode": "Webhook"}, "readOnlyPort": 0, "streamingConnectionIdleTimeout": "4h0m0s",
    "makeIPTablesUtilChains": True, "protectKernelDefaults": False, "eventRecordQPS": 50,
    "rotateCertificates": True, "featureGates": {},
}  # fmt: skip
# (mode, owner) of what kubeadm writes on a control-plane node and on every node
CONTROL_PLANE_FILES = {
    "/etc/kubernetes/manifests/kube-apiserver.yaml": (0o600, "root:root"),
    "/etc/kubernetes/manifests/kube-controller-manager.yaml": (0o600, "root:root"),
    "/etc/kubernetes/manifests/kube-scheduler.yaml": (0o600, "root:root"),
    "/etc/kubernetes/manifests/etcd.yaml": (0o600, "root:root"),
    "/var/lib/etcd": (0o700, "etcd:etcd"),
    "/etc/kubernetes/admin.conf": (0o600, "root:root"),
    "/etc/kubernetes/super-admin.conf": (0o600, "root:root"),
    "/etc/kubernetes/scheduler.conf": (0o600, "root:root"),
    "/etc/kubernetes/controller-manager.conf": (0o600, "root:root"),
    f"{PKI}": (0o755, "root:root"),
    f"{PKI}/ca.crt": (0o644, "root:root"),
    f"{PKI}/ca.key": (0o600, "root:root"),
    f"{PKI}/apiserver.key": (0o600, "root:root"),
}
NODE_FILES = {
    "/etc/kubernetes/kubelet.conf": (0o600, "root:root"),
    f"{PKI}/ca.crt": (0o644, "root:root"),
    "/var/lib/kubelet/config.yaml": (0o600, "root:root"),  # kubeadm writes 0644; Strata's cloud-init tightens it
}


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass
class Node:
    """One node as the checks see it."""

    role: str  # master (control plane) or node (worker)
    flags: dict[str, dict[str, str]] = field(default_factory=dict)
    kubelet: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple[int, str]] = field(default_factory=dict)


def node(documents: list[dict[str, Any]], cluster: dict[str, Any] | None) -> Node:
    """The node the kubeadm `documents` of one node make; `cluster`: the ClusterConfiguration that set up the
    control plane, for a control-plane node (None for a worker)."""
    flags: dict[str, dict[str, str]] = {}
    if cluster is not None:
        flags = {component: dict(defaults) for component, defaults in DEFAULT_FLAGS.items()}
        for part, component in PACK_PARTS.items():
            flags[component].update({a["name"]: a["value"] for a in (cluster.get(part) or {}).get("extraArgs", [])})
    kubelet = next((d for d in documents if d.get("kind") == "KubeletConfiguration"), {})
    settings = {k: v for k, v in kubelet.items() if k not in ("apiVersion", "kind")}
    files = {**NODE_FILES, **(CONTROL_PLANE_FILES if cluster is not None else {})}
    return Node("master" if cluster is not None else "node", flags, _merged(DEFAULT_KUBELET, settings), files)
