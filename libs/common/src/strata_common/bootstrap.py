"""kubeadm configuration for each node, rendered into cloud-init user data (kubeadm API v1beta4).

The first control-plane node runs `kubeadm init` with InitConfiguration + ClusterConfiguration and
uploads the control-plane certificates (encrypted with the certificate key); the others join with
JoinConfiguration, control-plane ones with that key, workers with the bootstrap token and the CA's
public-key hash. CA private keys never go into user data. Every node's KubeletConfiguration carries
Strata's CIS defaults under the pack's settings, and the kubelet's configuration file is made readable by
root only once kubeadm has written it (CIS 4.1.9; kubeadm writes it 0644). Control-plane nodes get an
audit policy (CIS 3.2) with the API server's audit log on the host, and Secrets encrypted at rest with the
cluster's own key (CIS 1.2.27), both files written by cloud-init before kubeadm runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from strata_common.pki import ca_cert_hash

API = "kubeadm.k8s.io/v1beta4"
KUBELET_DEFAULTS = {"podPidsLimit": 4096}  # CIS 4.2.13; the kubernetes pack's kubeadm.kubelet may change it
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
AUDIT_DIR, ENCRYPTION_DIR, AUDIT_LOG_DIR = "/etc/kubernetes/audit", "/etc/kubernetes/encryption", "/var/log/kubernetes"
# Metadata for what holds secrets (never their content), requests for exec/attach/port-forward, metadata for the rest
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]},
                                            {"group": "authentication.k8s.io", "resources": ["tokenreviews"]}]},
        {"level": "Request", "resources": [{"group": "", "resources": ["pods/exec", "pods/attach",
                                                                       "pods/portforward"]}]},
        {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"]},
        {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]},
        {"level": "Metadata"},
    ],
}  # fmt: skip


def control_plane_files(secrets: dict[str, str]) -> list[dict[str, str]]:
    """The audit policy and (when the cluster has an encryption key: clusters made before it do not) the
    encryption configuration every control-plane node needs before its API server starts."""
    files = [{"path": f"{AUDIT_DIR}/policy.yaml", "permissions": "0600", "owner": "root:root",
              "content": yaml.safe_dump(AUDIT_POLICY, sort_keys=False)}]  # fmt: skip
    if secrets.get("encryptionKey"):
        key = {"name": "strata-1", "secret": secrets["encryptionKey"]}
        providers = [{"aescbc": {"keys": [key]}}, {"identity": {}}]  # identity: reads what was stored before
        config = {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
                  "resources": [{"resources": ["secrets"], "providers": providers}]}  # fmt: skip
        files.append({"path": f"{ENCRYPTION_DIR}/config.yaml", "permissions": "0600", "owner": "root:root",
                      "content": yaml.safe_dump(config, sort_keys=False)})  # fmt: skip
    return files


KUBE_VIP_IMAGE = "ghcr.io/kube-vip/kube-vip:v0.8.7"


def kube_vip_file(address: str, port: int, init: bool) -> dict[str, str]:
    """kube-vip as a static pod of a control-plane node, announcing the cluster's virtual IP by ARP with
    leader election among the control-plane nodes (the endpoint on a cloud without load balancers). The
    first node's kubeadm init has only super-admin.conf to talk to its API with (Kubernetes 1.29+)."""
    kubeconfig = "/etc/kubernetes/super-admin.conf" if init else "/etc/kubernetes/admin.conf"
    env = {"vip_arp": "true", "port": str(port), "vip_cidr": "32", "cp_enable": "true", "cp_namespace": "kube-system",
           "vip_leaderelection": "true", "vip_leasename": "plndr-cp-lock", "address": address}  # fmt: skip
    container = {"name": "kube-vip", "image": KUBE_VIP_IMAGE, "args": ["manager"],
                 "env": [{"name": k, "value": v} for k, v in env.items()],
                 "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
                 "volumeMounts": [{"name": "kubeconfig", "mountPath": "/etc/kubernetes/admin.conf"}]}  # fmt: skip
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kube-vip", "namespace": "kube-system"},
           "spec": {"hostNetwork": True, "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["kubernetes"]}],
                    "containers": [container],
                    "volumes": [{"name": "kubeconfig", "hostPath": {"path": kubeconfig}}]}}  # fmt: skip
    return {
        "path": "/etc/kubernetes/manifests/kube-vip.yaml",
        "permissions": "0600",
        "owner": "root:root",
        "content": yaml.safe_dump(pod, sort_keys=False),
    }


def _hardened_api_server(kubeadm_part: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """The API server's extraArgs (the pack's, with Strata's audit policy and encryption on top) and the host
    folders they need mounted into its static pod."""
    args = {**(kubeadm_part.get("extraArgs") or {}), "audit-policy-file": f"{AUDIT_DIR}/policy.yaml"}
    args.setdefault("audit-log-path", f"{AUDIT_LOG_DIR}/audit.log")
    volumes = [{"name": "audit-policy", "hostPath": AUDIT_DIR, "mountPath": AUDIT_DIR, "readOnly": True,
                "pathType": "DirectoryOrCreate"},
               {"name": "audit-log", "hostPath": AUDIT_LOG_DIR, "mountPath": AUDIT_LOG_DIR, "readOnly": False,
                "pathType": "DirectoryOrCreate"}]  # fmt: skip
    if secrets.get("encryptionKey"):
        args["encryption-provider-config"] = f"{ENCRYPTION_DIR}/config.yaml"
        volumes.append({"name": "encryption", "hostPath": ENCRYPTION_DIR, "mountPath": ENCRYPTION_DIR,
                        "readOnly": True, "pathType": "DirectoryOrCreate"})  # fmt: skip
    return {"extraArgs": _args(args), "extraVolumes": volumes}


def _args(settings: dict[str, Any]) -> list[dict[str, str]]:
    return [{"name": name, "value": str(value)} for name, value in sorted(settings.items())]


def kubeadm_documents(
    node: dict[str, Any], first: bool, endpoint: str, kubernetes: dict[str, Any], values: dict[str, Any],
    secrets: dict[str, str],
) -> list[dict[str, Any]]:  # fmt: skip
    """The kubeadm documents of one node. `endpoint` is host:port of the API load balancer."""
    kubeadm = kubernetes.get("kubeadm", {})
    registration = {"name": node["name"], "kubeletExtraArgs": _args({"node-labels": f"strata.dev/pool={node['pool']}"})}
    if node["role"] == "controlPlane" and first:
        cluster = {
            "apiVersion": API,
            "kind": "ClusterConfiguration",
            "clusterName": secrets["clusterName"],
            "kubernetesVersion": f"v{kubernetes['version']}",
            "controlPlaneEndpoint": endpoint,
            "encryptionAlgorithm": "ECDSA-P256",  # what the PKI Strata generates uses
            "networking": {
                "podSubnet": values.get("podCIDR", "192.168.0.0/16"),
                "serviceSubnet": values.get("serviceCIDR", "10.96.0.0/12"),
                "dnsDomain": values.get("clusterDomain", "cluster.local"),
            },
        }
        cluster["apiServer"] = _hardened_api_server(kubeadm.get("apiServer") or {}, secrets)
        for part in ("controllerManager", "scheduler"):
            if kubeadm.get(part, {}).get("extraArgs"):
                cluster[part] = {"extraArgs": _args(kubeadm[part]["extraArgs"])}
        documents: list[dict[str, Any]] = [
            {
                "apiVersion": API,
                "kind": "InitConfiguration",
                "bootstrapTokens": [{"token": secrets["bootstrapToken"], "ttl": "24h0m0s",
                                     "groups": ["system:bootstrappers:kubeadm:default-node-token"]}],
                "certificateKey": secrets["certificateKey"],
                "nodeRegistration": registration,
            },
            cluster,
        ]  # fmt: skip
    else:
        join: dict[str, Any] = {
            "apiVersion": API,
            "kind": "JoinConfiguration",
            "discovery": {
                "bootstrapToken": {
                    "apiServerEndpoint": endpoint,
                    "token": secrets["bootstrapToken"],
                    "caCertHashes": [ca_cert_hash(secrets["caCert"])],
                }
            },
            "nodeRegistration": registration,
        }
        if node["role"] == "controlPlane":
            join["controlPlane"] = {"certificateKey": secrets["certificateKey"]}
        documents = [join]
    documents.append({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                      **KUBELET_DEFAULTS, **(kubeadm.get("kubelet") or {})})  # fmt: skip
    return documents


def user_data(documents: list[dict[str, Any]], files: Sequence[dict[str, str]] = ()) -> str:
    """cloud-init that writes the kubeadm configuration (and `files`) and runs kubeadm init or join."""
    init = any(d["kind"] == "InitConfiguration" for d in documents)
    command = ["kubeadm", "init", "--upload-certs"] if init else ["kubeadm", "join"]
    config = {
        "write_files": [
            {"path": "/run/kubeadm/kubeadm.yaml", "permissions": "0600", "owner": "root:root",
             "content": yaml.safe_dump_all(documents, sort_keys=False)},
            *files,
        ],
        "runcmd": [[*command, "--config", "/run/kubeadm/kubeadm.yaml"], ["chmod", "600", KUBELET_CONFIG]],
    }  # fmt: skip
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)
