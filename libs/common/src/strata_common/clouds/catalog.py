"""What a cloud offers (regions with their zones, instance types), for validating cluster requests.

A cloud with a driver brings its own catalog through the registry; the catalogs here are those of
the clouds whose drivers are still to come (Azure, vSphere), so requests for them are checked
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InstanceType:
    name: str
    cpu: int
    memory_mib: int


@dataclass(frozen=True)
class Catalog:
    """Regions -> zones (empty for a cloud whose datacenters come from the account), instance types,
    and the type image builders run on."""

    regions: dict[str, list[str]] = field(default_factory=dict)
    instance_types: dict[str, InstanceType] = field(default_factory=dict)
    builder_type: str = "medium"


def instance_types(*rows: tuple[str, int, int]) -> dict[str, InstanceType]:
    return {name: InstanceType(name, cpu, memory) for name, cpu, memory in rows}


GENERIC_SIZES = instance_types(("small", 1, 2048), ("medium", 2, 4096), ("large", 4, 8192), ("xlarge", 8, 16384))

PLANNED: dict[str, Catalog] = {
    "vsphere": Catalog({}, GENERIC_SIZES),
    "azure": Catalog(
        {"eastus": ["1", "2", "3"], "westeurope": ["1", "2", "3"], "northeurope": ["1", "2", "3"]},
        instance_types(
            ("Standard_B2s", 2, 4096),
            ("Standard_D2s_v5", 2, 8192),
            ("Standard_D4s_v5", 4, 16384),
            ("Standard_D8s_v5", 8, 32768),
            ("Standard_F4s_v2", 4, 8192),
        ),
    ),
}
