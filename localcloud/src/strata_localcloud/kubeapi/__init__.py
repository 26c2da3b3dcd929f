"""Strata's Kubernetes API emulator: one HTTPS server for every cluster of the local cloud."""
