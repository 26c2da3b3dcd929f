"""Packs: the format, loading and validation, registries, digests, and profile checks."""
