"""Strata's built-in local cloud: a simulated cloud in PostgreSQL (driver `local`) and the
Kubernetes API emulator of its clusters."""
