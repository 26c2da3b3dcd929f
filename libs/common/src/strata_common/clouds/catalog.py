"""What a cloud offers (regions with their zones, instance types), for validating cluster requests.

Each cloud's driver brings its own catalog through the registry; the generic sizes serve a cloud that
has no sizes of its own (vSphere).
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
