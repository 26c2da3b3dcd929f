"""The CIS Kubernetes Benchmark v1.9 checks that apply to a kubeadm cluster, as data (kube-bench's cis-1.9
layout: control, section, check id and text). A test is a tuple: ("flag", component, flag, op[, value]),
("kubelet", dotted path, op[, value]), ("mode", path, most permissive mode), ("owner", path, owner), or
("all", test, ...); a `manual` check needs a person's review and is reported WARN, as kube-bench does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERSION = "cis-1.9"
CONTROLS = {  # id: (text, node type)
    "1": ("Control Plane Security Configuration", "master"),
    "2": ("Etcd Node Configuration", "etcd"),
    "3": ("Control Plane Configuration", "controlplane"),
    "4": ("Worker Node Security Configuration", "node"),
    "5": ("Kubernetes Policies", "policies"),
}
SECTIONS = {
    "1.1": "Control Plane Node Configuration Files", "1.2": "API Server", "1.3": "Controller Manager",
    "1.4": "Scheduler", "2": "Etcd Node Configuration", "3.1": "Authentication and Authorization",
    "3.2": "Logging", "4.1": "Worker Node Configuration Files", "4.2": "Kubelet",
    "5.1": "RBAC and Service Accounts", "5.2": "Pod Security Standards", "5.3": "Network Policies and CNI",
    "5.4": "Secrets Management", "5.7": "General Policies",
}  # fmt: skip


@dataclass(frozen=True)
class Check:
    id: str
    text: str
    test: tuple[Any, ...] | None  # None: manual
    remediation: str
    scored: bool = True

    @property
    def section(self) -> str:
        return ".".join(self.id.split(".")[:2]) if not self.id.startswith("2.") else "2"

    @property
    def control(self) -> str:
        return self.id.split(".")[0]


def _perm(cid: str, what: str, path: str, mode: int) -> Check:
    text = f"Ensure that the {what} permissions are set to {mode:o} or more restrictive"
    return Check(cid, text, ("mode", path, mode), f"Run `chmod {mode:o} {path}` on the node.")


def _own(cid: str, what: str, path: str, owner: str = "root:root") -> Check:
    return Check(cid, f"Ensure that the {what} ownership is set to {owner}", ("owner", path, owner),
                 f"Run `chown {owner} {path}` on the node.")  # fmt: skip


def _manual(cid: str, text: str, remediation: str) -> Check:
    return Check(cid, text, None, remediation, scored=False)


APISERVER = "Edit /etc/kubernetes/manifests/kube-apiserver.yaml on the control-plane nodes (with Strata: the "
APISERVER += "kubernetes pack's kubeadm.apiServer.extraArgs) and set"
CHECKS: tuple[Check, ...] = (
    _perm("1.1.1", "API server pod specification file", "/etc/kubernetes/manifests/kube-apiserver.yaml", 0o600),
    _own("1.1.2", "API server pod specification file", "/etc/kubernetes/manifests/kube-apiserver.yaml"),
    _perm("1.1.3", "controller manager pod specification file",
          "/etc/kubernetes/manifests/kube-controller-manager.yaml", 0o600),
    _own("1.1.4", "controller manager pod specification file",
         "/etc/kubernetes/manifests/kube-controller-manager.yaml"),
    _perm("1.1.5", "scheduler pod specification file", "/etc/kubernetes/manifests/kube-scheduler.yaml", 0o600),
    _own("1.1.6", "scheduler pod specification file", "/etc/kubernetes/manifests/kube-scheduler.yaml"),
    _perm("1.1.7", "etcd pod specification file", "/etc/kubernetes/manifests/etcd.yaml", 0o600),
    _own("1.1.8", "etcd pod specification file", "/etc/kubernetes/manifests/etcd.yaml"),
    _perm("1.1.11", "etcd data directory", "/var/lib/etcd", 0o700),
    _own("1.1.12", "etcd data directory", "/var/lib/etcd", "etcd:etcd"),
    _perm("1.1.13", "default administrative credential file", "/etc/kubernetes/admin.conf", 0o600),
    _own("1.1.14", "default administrative credential file", "/etc/kubernetes/admin.conf"),
    _perm("1.1.15", "scheduler.conf file", "/etc/kubernetes/scheduler.conf", 0o600),
    _own("1.1.16", "scheduler.conf file", "/etc/kubernetes/scheduler.conf"),
    _perm("1.1.17", "controller-manager.conf file", "/etc/kubernetes/controller-manager.conf", 0o600),
    _own("1.1.18", "controller-manager.conf file", "/etc/kubernetes/controller-manager.conf"),
    _own("1.1.19", "Kubernetes PKI directory and file", "/etc/kubernetes/pki"),
    _perm("1.1.20", "Kubernetes PKI certificate file", "/etc/kubernetes/pki/ca.crt", 0o644),
    _perm("1.1.21", "Kubernetes PKI key file", "/etc/kubernetes/pki/ca.key", 0o600),
    Check("1.2.1", "Ensure that the --anonymous-auth argument is set to false",
          ("flag", "apiserver", "anonymous-auth", "eq", "false"), f"{APISERVER} --anonymous-auth=false.", False),
    Check("1.2.2", "Ensure that the --token-auth-file parameter is not set",
          ("flag", "apiserver", "token-auth-file", "unset"), f"{APISERVER} no --token-auth-file."),
    _manual("1.2.3", "Ensure that the --DenyServiceExternalIPs is set",
            f"{APISERVER} --enable-admission-plugins to include DenyServiceExternalIPs where no Service needs them."),
    Check("1.2.4", "Ensure that the --kubelet-client-certificate and --kubelet-client-key arguments are set as "
          "appropriate", ("all", ("flag", "apiserver", "kubelet-client-certificate", "set"),
                          ("flag", "apiserver", "kubelet-client-key", "set")), f"{APISERVER} both."),
    Check("1.2.5", "Ensure that the --kubelet-certificate-authority argument is set as appropriate",
          ("flag", "apiserver", "kubelet-certificate-authority", "set"),
          f"{APISERVER} --kubelet-certificate-authority; kubelets then need serving certificates signed by the "
          "cluster CA (serverTLSBootstrap and their CSRs approved), which kubeadm does not set up."),
    Check("1.2.6", "Ensure that the --authorization-mode argument is not set to AlwaysAllow",
          ("flag", "apiserver", "authorization-mode", "lacks", "AlwaysAllow"),
          f"{APISERVER} --authorization-mode=Node,RBAC."),
    Check("1.2.7", "Ensure that the --authorization-mode argument includes Node",
          ("flag", "apiserver", "authorization-mode", "has", "Node"), f"{APISERVER} --authorization-mode=Node,RBAC."),
    Check("1.2.8", "Ensure that the --authorization-mode argument includes RBAC",
          ("flag", "apiserver", "authorization-mode", "has", "RBAC"), f"{APISERVER} --authorization-mode=Node,RBAC."),
    _manual("1.2.9", "Ensure that the admission control plugin EventRateLimit is set",
            f"{APISERVER} --enable-admission-plugins with EventRateLimit and its configuration file."),
    Check("1.2.10", "Ensure that the admission control plugin AlwaysAdmit is not set",
          ("flag", "apiserver", "enable-admission-plugins", "lacks", "AlwaysAdmit"), f"{APISERVER} no AlwaysAdmit."),
    _manual("1.2.11", "Ensure that the admission control plugin AlwaysPullImages is set",
            f"{APISERVER} --enable-admission-plugins with AlwaysPullImages (multi-tenant clusters)."),
    Check("1.2.12", "Ensure that the admission control plugin ServiceAccount is set",
          ("flag", "apiserver", "disable-admission-plugins", "lacks", "ServiceAccount"),
          f"{APISERVER} no ServiceAccount in --disable-admission-plugins."),
    Check("1.2.13", "Ensure that the admission control plugin NamespaceLifecycle is set",
          ("flag", "apiserver", "disable-admission-plugins", "lacks", "NamespaceLifecycle"),
          f"{APISERVER} no NamespaceLifecycle in --disable-admission-plugins."),
    Check("1.2.14", "Ensure that the admission control plugin NodeRestriction is set",
          ("flag", "apiserver", "enable-admission-plugins", "has", "NodeRestriction"),
          f"{APISERVER} --enable-admission-plugins with NodeRestriction."),
    Check("1.2.15", "Ensure that the --profiling argument is set to false",
          ("flag", "apiserver", "profiling", "eq", "false"), f"{APISERVER} --profiling=false."),
    Check("1.2.16", "Ensure that the --audit-log-path argument is set",
          ("flag", "apiserver", "audit-log-path", "set"), f"{APISERVER} --audit-log-path."),
    Check("1.2.17", "Ensure that the --audit-log-maxage argument is set to 30 or as appropriate",
          ("flag", "apiserver", "audit-log-maxage", "gte", 30), f"{APISERVER} --audit-log-maxage=30."),
    Check("1.2.18", "Ensure that the --audit-log-maxbackup argument is set to 10 or as appropriate",
          ("flag", "apiserver", "audit-log-maxbackup", "gte", 10), f"{APISERVER} --audit-log-maxbackup=10."),
    Check("1.2.19", "Ensure that the --audit-log-maxsize argument is set to 100 or as appropriate",
          ("flag", "apiserver", "audit-log-maxsize", "gte", 100), f"{APISERVER} --audit-log-maxsize=100."),
    _manual("1.2.20", "Ensure that the --request-timeout argument is set as appropriate",
            f"{APISERVER} --request-timeout only if the default 60s does not suit."),
    Check("1.2.21", "Ensure that the --service-account-lookup argument is set to true",
          ("flag", "apiserver", "service-account-lookup", "not_eq", "false"),
          f"{APISERVER} no --service-account-lookup=false."),
    Check("1.2.22", "Ensure that the --service-account-key-file argument is set as appropriate",
          ("flag", "apiserver", "service-account-key-file", "set"), f"{APISERVER} --service-account-key-file."),
    Check("1.2.23", "Ensure that the --etcd-certfile and --etcd-keyfile arguments are set as appropriate",
          ("all", ("flag", "apiserver", "etcd-certfile", "set"), ("flag", "apiserver", "etcd-keyfile", "set")),
          f"{APISERVER} both."),
    Check("1.2.24", "Ensure that the --tls-cert-file and --tls-private-key-file arguments are set as appropriate",
          ("all", ("flag", "apiserver", "tls-cert-file", "set"), ("flag", "apiserver", "tls-private-key-file", "set")),
          f"{APISERVER} both."),
    Check("1.2.25", "Ensure that the --client-ca-file argument is set as appropriate",
          ("flag", "apiserver", "client-ca-file", "set"), f"{APISERVER} --client-ca-file."),
    Check("1.2.26", "Ensure that the --etcd-cafile argument is set as appropriate",
          ("flag", "apiserver", "etcd-cafile", "set"), f"{APISERVER} --etcd-cafile."),
    Check("1.2.27", "Ensure that the --encryption-provider-config argument is set as appropriate",
          ("flag", "apiserver", "encryption-provider-config", "set"),
          f"{APISERVER} --encryption-provider-config to an EncryptionConfiguration for Secrets.", False),
    _manual("1.2.28", "Ensure that encryption providers are appropriately configured",
            "Use aescbc, kms v2 or secretbox in the EncryptionConfiguration."),
    _manual("1.2.29", "Ensure that the API Server only makes use of Strong Cryptographic Ciphers",
            f"{APISERVER} --tls-cipher-suites to strong suites."),
    _manual("1.3.1", "Ensure that the --terminated-pod-gc-threshold argument is set as appropriate",
            "Set --terminated-pod-gc-threshold on the controller manager (the kubernetes pack sets 10)."),
    Check("1.3.2", "Ensure that the --profiling argument is set to false",
          ("flag", "controllermanager", "profiling", "eq", "false"),
          "Set --profiling=false on the controller manager."),
    Check("1.3.3", "Ensure that the --use-service-account-credentials argument is set to true",
          ("flag", "controllermanager", "use-service-account-credentials", "eq", "true"),
          "Set --use-service-account-credentials=true on the controller manager."),
    Check("1.3.4", "Ensure that the --service-account-private-key-file argument is set as appropriate",
          ("flag", "controllermanager", "service-account-private-key-file", "set"),
          "Set --service-account-private-key-file on the controller manager."),
    Check("1.3.5", "Ensure that the --root-ca-file argument is set as appropriate",
          ("flag", "controllermanager", "root-ca-file", "set"), "Set --root-ca-file on the controller manager."),
    Check("1.3.6", "Ensure that the RotateKubeletServerCertificate argument is set to true",
          ("flag", "controllermanager", "feature-gates", "lacks", "RotateKubeletServerCertificate=false"),
          "Do not turn the RotateKubeletServerCertificate feature gate off.", False),
    Check("1.3.7", "Ensure that the --bind-address argument is set to 127.0.0.1",
          ("flag", "controllermanager", "bind-address", "eq", "127.0.0.1"),
          "Set --bind-address=127.0.0.1 on the controller manager."),
    Check("1.4.1", "Ensure that the --profiling argument is set to false",
          ("flag", "scheduler", "profiling", "eq", "false"), "Set --profiling=false on the scheduler."),
    Check("1.4.2", "Ensure that the --bind-address argument is set to 127.0.0.1",
          ("flag", "scheduler", "bind-address", "eq", "127.0.0.1"), "Set --bind-address=127.0.0.1 on the scheduler."),
    Check("2.1", "Ensure that the --cert-file and --key-file arguments are set as appropriate",
          ("all", ("flag", "etcd", "cert-file", "set"), ("flag", "etcd", "key-file", "set")), "Set both on etcd."),
    Check("2.2", "Ensure that the --client-cert-auth argument is set to true",
          ("flag", "etcd", "client-cert-auth", "eq", "true"), "Set --client-cert-auth=true on etcd."),
    Check("2.3", "Ensure that the --auto-tls argument is not set to true",
          ("flag", "etcd", "auto-tls", "not_eq", "true"), "Do not set --auto-tls=true on etcd."),
    Check("2.4", "Ensure that the --peer-cert-file and --peer-key-file arguments are set as appropriate",
          ("all", ("flag", "etcd", "peer-cert-file", "set"), ("flag", "etcd", "peer-key-file", "set")),
          "Set both on etcd."),
    Check("2.5", "Ensure that the --peer-client-cert-auth argument is set to true",
          ("flag", "etcd", "peer-client-cert-auth", "eq", "true"), "Set --peer-client-cert-auth=true on etcd."),
    Check("2.6", "Ensure that the --peer-auto-tls argument is not set to true",
          ("flag", "etcd", "peer-auto-tls", "not_eq", "true"), "Do not set --peer-auto-tls=true on etcd."),
    _manual("2.7", "Ensure that a unique Certificate Authority is used for etcd",
            "kubeadm makes a separate etcd CA (etcd/ca.crt); keep it apart from the cluster CA."),
    _manual("3.1.1", "Client certificate authentication should not be used for users",
            "Give people OIDC or another authenticator; keep the admin kubeconfig for break-glass use."),
    Check("3.2.1", "Ensure that a minimal audit policy is created", ("flag", "apiserver", "audit-policy-file", "set"),
          "Give the API server an --audit-policy-file: without one it records no audit event.", False),
    _manual("3.2.2", "Ensure that the audit policy covers key security concerns",
            "Log Secrets, ConfigMaps and TokenReviews at Metadata level, pods/exec and pods/attach at Request."),
    _perm("4.1.1", "kubelet service file", "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", 0o600),
    _own("4.1.2", "kubelet service file", "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"),
    _perm("4.1.5", "--kubeconfig kubelet.conf file", "/etc/kubernetes/kubelet.conf", 0o600),
    _own("4.1.6", "--kubeconfig kubelet.conf file", "/etc/kubernetes/kubelet.conf"),
    _perm("4.1.7", "certificate authorities file", "/etc/kubernetes/pki/ca.crt", 0o644),
    _own("4.1.8", "client certificate authorities file", "/etc/kubernetes/pki/ca.crt"),
    _perm("4.1.9", "kubelet --config configuration file", "/var/lib/kubelet/config.yaml", 0o600),
    _own("4.1.10", "kubelet --config configuration file", "/var/lib/kubelet/config.yaml"),
    Check("4.2.1", "Ensure that the --anonymous-auth argument is set to false",
          ("kubelet", "authentication.anonymous.enabled", "eq", False),
          "Set authentication.anonymous.enabled: false."),
    Check("4.2.2", "Ensure that the --authorization-mode argument is not set to AlwaysAllow",
          ("kubelet", "authorization.mode", "not_eq", "AlwaysAllow"), "Set authorization.mode: Webhook."),
    Check("4.2.3", "Ensure that the --client-ca-file argument is set as appropriate",
          ("kubelet", "authentication.x509.clientCAFile", "set"), "Set authentication.x509.clientCAFile."),
    Check("4.2.4", "Verify that the --read-only-port argument is set to 0",
          ("kubelet", "readOnlyPort", "eq", 0), "Set readOnlyPort: 0 (the kubernetes pack's kubeadm.kubelet)."),
    Check("4.2.5", "Ensure that the --streaming-connection-idle-timeout argument is not set to 0",
          ("kubelet", "streamingConnectionIdleTimeout", "not_in", ("0", "0s")),
          "Set streamingConnectionIdleTimeout to a duration, e.g. 4h0m0s."),
    Check("4.2.6", "Ensure that the --make-iptables-util-chains argument is set to true",
          ("kubelet", "makeIPTablesUtilChains", "eq", True), "Set makeIPTablesUtilChains: true."),
    _manual("4.2.7", "Ensure that the --hostname-override argument is not set",
            "Do not set --hostname-override unless the cloud provider needs it."),
    Check("4.2.8", "Ensure that the eventRecordQPS argument is set to a level which ensures appropriate event "
          "capture", ("kubelet", "eventRecordQPS", "gte", 1), "Set eventRecordQPS (the kubernetes pack sets 5).",
          False),
    _manual("4.2.9", "Ensure that the --tls-cert-file and --tls-private-key-file arguments are set as appropriate",
            "Give kubelets serving certificates from the cluster CA (serverTLSBootstrap) instead of self-signed ones."),
    Check("4.2.10", "Ensure that the --rotate-certificates argument is not set to false",
          ("kubelet", "rotateCertificates", "not_eq", False), "Set rotateCertificates: true."),
    Check("4.2.11", "Verify that the RotateKubeletServerCertificate argument is set to true",
          ("kubelet", "featureGates.RotateKubeletServerCertificate", "not_eq", False),
          "Do not turn the RotateKubeletServerCertificate feature gate off."),
    Check("4.2.12", "Ensure that the Kubelet only makes use of Strong Cryptographic Ciphers",
          ("kubelet", "tlsCipherSuites", "set"), "Set tlsCipherSuites to strong suites (the kubernetes pack does).",
          False),
    Check("4.2.13", "Ensure that a limit is set on pod PIDs", ("kubelet", "podPidsLimit", "gte", 1),
          "Set podPidsLimit (e.g. 4096) in the kubernetes pack's kubeadm.kubelet.", False),
    _manual("5.1.1", "Ensure that the cluster-admin role is only used where required",
            "Bind cluster-admin only to break-glass identities."),
    _manual("5.1.2", "Minimize access to secrets", "Grant get, list and watch on Secrets to as few as possible."),
    _manual("5.1.3", "Minimize wildcard use in Roles and ClusterRoles", "Name resources and verbs."),
    _manual("5.1.4", "Minimize access to create pods", "Grant create on pods to as few as possible."),
    _manual("5.1.5", "Ensure that default service accounts are not actively used",
            "Set automountServiceAccountToken: false on each namespace's default service account."),
    _manual("5.1.6", "Ensure that Service Account Tokens are only mounted where necessary",
            "Set automountServiceAccountToken: false where a pod needs no token."),
    _manual("5.2.1", "Ensure that the cluster has at least one active policy control mechanism in place",
            "Label namespaces for Pod Security Admission (pod-security.kubernetes.io/enforce)."),
    _manual("5.3.2", "Ensure that all Namespaces have NetworkPolicies defined", "Give each namespace a policy."),
    _manual("5.4.1", "Prefer using Secrets as files over Secrets as environment variables",
            "Mount Secrets as files."),
    _manual("5.7.4", "The default namespace should not be used", "Put workloads in their own namespaces."),
)  # fmt: skip
