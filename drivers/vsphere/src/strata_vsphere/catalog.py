"""What Strata offers on vSphere: the datacenters and compute clusters come from the account (a
region is a datacenter, a zone a compute cluster), the sizes are Strata's own (vCenter has none)."""

from strata_common.clouds.catalog import GENERIC_SIZES, Catalog

CATALOG = Catalog({}, GENERIC_SIZES, builder_type="medium")
