"""Talking to a cluster's Kubernetes API: its address and credentials, server-side apply, readiness."""
