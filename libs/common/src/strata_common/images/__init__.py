"""VM images for clusters: the signature that names a customized image, and what Strata's own
Kubernetes-install role puts into one."""
