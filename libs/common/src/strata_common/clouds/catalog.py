"""Regions, zones and instance types each cloud offers, for validating cluster requests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceType:
    name: str
    cpu: int
    memory_mib: int


def _types(*rows: tuple[str, int, int]) -> dict[str, InstanceType]:
    return {name: InstanceType(name, cpu, memory) for name, cpu, memory in rows}


_SIZES = _types(("small", 1, 2048), ("medium", 2, 4096), ("large", 4, 8192), ("xlarge", 8, 16384))

INSTANCE_TYPES: dict[str, dict[str, InstanceType]] = {
    "local": _SIZES,
    "vsphere": _SIZES,
    "aws": _types(
        ("t3.medium", 2, 4096),
        ("t3.large", 2, 8192),
        ("m5.large", 2, 8192),
        ("m5.xlarge", 4, 16384),
        ("m5.2xlarge", 8, 32768),
        ("c5.large", 2, 4096),
        ("c5.xlarge", 4, 8192),
        ("r5.large", 2, 16384),
    ),
    "azure": _types(
        ("Standard_B2s", 2, 4096),
        ("Standard_D2s_v5", 2, 8192),
        ("Standard_D4s_v5", 4, 16384),
        ("Standard_D8s_v5", 8, 32768),
        ("Standard_F4s_v2", 4, 8192),
    ),
}

# Region -> zones. vSphere has no fixed list: its datacenters and fault domains come from the account.
REGIONS: dict[str, dict[str, list[str]]] = {
    "local": {"local-1": ["local-1a", "local-1b", "local-1c"], "local-2": ["local-2a", "local-2b"]},
    "aws": {
        "us-east-1": [f"us-east-1{z}" for z in "abcdef"],
        "us-west-2": [f"us-west-2{z}" for z in "abcd"],
        "eu-west-1": [f"eu-west-1{z}" for z in "abc"],
    },
    "azure": {"eastus": ["1", "2", "3"], "westeurope": ["1", "2", "3"], "northeurope": ["1", "2", "3"]},
}
