"""Strata provisioner service: creates networks, load balancers and nodes."""
