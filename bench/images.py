"""Image benchmark on the local cloud, through the HTTP API and real image builder, provisioner and beat.

(a) 20 clusters sharing 2 signatures (two OS values of the built-in Ubuntu pack), 14 in local-1 and
    6 in local-2, submitted at once: the number of builds (must be 2) and of copies to the other
    region, and the time until all are Running.
(b) a cached resolution: the signature lookup (DescribeImages by tag) with 10,000 images in the
    local cloud's catalog, median and p99 over 500 lookups. Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
from harness import bench_env
from provision import PROFILE, Fleet

from strata_common.db.pool import open_pool
from strata_localcloud.cloud import LocalCloud

CATALOG = 10_000
LOOKUPS = 500


def counts(env: dict[str, str]) -> tuple[int, int]:
    with psycopg.connect(env["STRATA_DATABASE_URL"]) as conn:
        builders = conn.execute(
            "SELECT count(*) FROM lc_resources WHERE kind = 'instance' AND tags->>'strata:role' = 'image-builder'"
        ).fetchone()[0]
        copies = conn.execute(
            "SELECT count(*) FROM lc_resources WHERE kind = 'image' AND spec ? 'copiedFrom'"
        ).fetchone()[0]
    return builders, copies


def main() -> None:
    with bench_env() as env:
        fleet = Fleet(env)
        try:
            fleet.workers_with(0.0)
            profiles = []
            for zone in ("UTC", "Europe/Paris"):
                layers = [{**PROFILE["layers"][0], "values": f"timezone: {zone}\n"}, PROFILE["layers"][1]]
                body = {"name": f"tz-{zone.replace('/', '-').lower()}", "layers": layers}
                profiles.append(fleet.session.post(f"{fleet.api}/v1/profiles", json=body, timeout=30).json()["id"])
            plan = [(f"c{i}", profiles[i % 2], "local-1" if i < 14 else "local-2") for i in range(20)]
            start = time.perf_counter()
            with ThreadPoolExecutor(20) as pool:
                ids = list(pool.map(lambda args: fleet.create(*args), plan))
            fleet.until_running(ids)
            elapsed = time.perf_counter() - start
            builds, copies = counts(env)
            print(f"(a) 20 clusters, 2 signatures, 2 regions: {builds} builds (target 2), {copies} copies; "
                  f"all Running in {elapsed:.1f} s")  # fmt: skip

            with psycopg.connect(env["STRATA_DATABASE_URL"]) as conn:
                conn.execute(
                    "INSERT INTO lc_resources (id, kind, region, tags, spec)"
                    " SELECT 'ami-bench' || n, 'image', 'local-1',"
                    " jsonb_build_object('strata:signature', md5(n::text), 'strata:source', 'built'), '{}'"
                    " FROM generate_series(1, %s) AS n",
                    (CATALOG,),
                )
                conn.execute("ANALYZE lc_resources")
                total = conn.execute("SELECT count(*) FROM lc_resources WHERE kind = 'image'").fetchone()[0]
            pool_ = open_pool(env["STRATA_DATABASE_URL"])
            cloud = LocalCloud(pool_)
            with pool_.connection() as conn:
                conn.execute("UPDATE lc_throttle SET rate = 0")  # measure the lookup, not the throttle
            wanted = {"strata:signature": "c4ca4238a0b923820dcc509a6f75849b"}  # md5('1')
            timings = []
            for _ in range(LOOKUPS):
                begin = time.perf_counter()
                found = cloud.find_images("local-1", wanted)
                timings.append((time.perf_counter() - begin) * 1000)
            assert len(found) == 1
            timings.sort()
            median = statistics.median(timings)
            print(f"(b) signature lookup with {total} images in the catalog: median {median:.2f} ms,"
                  f" p99 {timings[int(LOOKUPS * 0.99) - 1]:.2f} ms over {LOOKUPS} lookups")  # fmt: skip
            pool_.close()
        finally:
            fleet.stop()


if __name__ == "__main__":
    main()
