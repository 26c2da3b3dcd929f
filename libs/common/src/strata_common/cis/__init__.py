"""The CIS Kubernetes Benchmark for kubeadm clusters: its checks as data, the node model they are evaluated
against, and reports in kube-bench's JSON shape."""
