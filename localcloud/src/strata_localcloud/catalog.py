"""The local cloud's regions, zones and instance sizes (the regions are seeded in lc_regions)."""

from strata_common.clouds.catalog import GENERIC_SIZES, Catalog

CATALOG = Catalog(
    {"local-1": ["local-1a", "local-1b", "local-1c"], "local-2": ["local-2a", "local-2b"]},
    GENERIC_SIZES,
)
