"""The emulator's object store against PostgreSQL: what a list returns and the resourceVersion it
names must agree, or a watch started from that version misses changes."""

from __future__ import annotations

import uuid

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from strata_localcloud.kubeapi import store


def config_map(name: str, value: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"v": value}}  # fmt: skip


def test_a_list_during_an_uncommitted_write_names_a_version_its_watch_resumes_before(database_url):
    cluster = str(uuid.uuid4())
    with ConnectionPool(database_url, kwargs={"row_factory": dict_row}, min_size=2, max_size=3) as pool:
        with store.transaction(pool, cluster) as tx:
            tx.put("/configmaps", config_map("a", "1"), None)
        with store.transaction(pool, cluster) as tx:  # a writer is between its resourceVersion and its commit
            old = tx.get("/configmaps", "default", "a")
            tx.put("/configmaps", config_map("a", "2"), old)
            with pool.connection() as conn:
                version, items = store.snapshot(conn, cluster, "/configmaps", "default")
        assert [o["data"] for o in items] == [{"v": "1"}]
        with pool.connection() as conn:
            missed = store.changes_after(conn, cluster, "/configmaps", "default", version)
        assert [c["body"]["data"] for c in missed] == [{"v": "2"}]
