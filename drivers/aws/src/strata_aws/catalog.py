"""The AWS regions, zones and instance types Strata offers (vCPUs and memory as EC2 lists them)."""

from strata_common.clouds.catalog import Catalog, instance_types

CATALOG = Catalog(
    {
        "us-east-1": [f"us-east-1{z}" for z in "abcdef"],
        "us-west-2": [f"us-west-2{z}" for z in "abcd"],
        "eu-west-1": [f"eu-west-1{z}" for z in "abc"],
    },
    instance_types(
        ("t3.micro", 2, 1024),
        ("t3.medium", 2, 4096),
        ("t3.large", 2, 8192),
        ("m5.large", 2, 8192),
        ("m5.xlarge", 4, 16384),
        ("m5.2xlarge", 8, 32768),
        ("c5.large", 2, 4096),
        ("c5.xlarge", 4, 8192),
        ("r5.large", 2, 16384),
    ),
    builder_type="t3.medium",
)
