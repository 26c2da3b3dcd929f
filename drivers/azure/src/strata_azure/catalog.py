"""The Azure regions, availability zones and VM sizes Strata offers (vCPUs and memory as Azure lists them)."""

from strata_common.clouds.catalog import Catalog, instance_types

CATALOG = Catalog(
    {"eastus": ["1", "2", "3"], "westeurope": ["1", "2", "3"], "northeurope": ["1", "2", "3"]},
    instance_types(
        ("Standard_B2s", 2, 4096),
        ("Standard_D2s_v5", 2, 8192),
        ("Standard_D4s_v5", 4, 16384),
        ("Standard_D8s_v5", 8, 32768),
        ("Standard_F4s_v2", 4, 8192),
    ),
    builder_type="Standard_D2s_v5",
)
