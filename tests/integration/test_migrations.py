"""`strata db upgrade`: in order, once each, safe to repeat and to run concurrently."""

import subprocess

import psycopg

from helpers import STRATA
from strata_common.db.migrate import available_migrations, upgrade

SCHEMA_QUERY = """
SELECT table_name, column_name, data_type, is_nullable, column_default
FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT tablename, indexname, indexdef, '', '' FROM pg_indexes WHERE schemaname = 'public'
ORDER BY 1, 2, 3
"""


def schema_of(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(SCHEMA_QUERY).fetchall()


def test_second_upgrade_changes_nothing(empty_database_url):
    first = upgrade(empty_database_url)
    assert [m.version for m in first] == [m.version for m in available_migrations()]
    schema = schema_of(empty_database_url)
    assert upgrade(empty_database_url) == []
    assert schema_of(empty_database_url) == schema
    with psycopg.connect(empty_database_url) as conn:
        recorded = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert recorded == [m.version for m in available_migrations()]


def test_migrated_schema_equals_the_template(empty_database_url, database_url):
    upgrade(empty_database_url)
    assert schema_of(empty_database_url) == schema_of(database_url)


def test_two_concurrent_upgrades_both_succeed(empty_database_url, strata_env):
    env = {**strata_env, "STRATA_DATABASE_URL": empty_database_url}
    runs = [
        subprocess.Popen([*STRATA, "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(run.wait(60), *run.communicate()) for run in runs]
    assert [code for code, _, _ in results] == [0, 0], results
    everything = ", ".join(f"{m.version:04d}_{m.name}" for m in available_migrations())
    outputs = sorted(out.split(";")[0] for _, out, _ in results)
    # one runner applied everything; the other waited on the lock and found nothing to do
    assert outputs == sorted([f"migrations applied: {everything}", "migrations applied: none"])
    packs = sorted(out.split(";")[1].strip() for _, out, _ in results)
    assert packs[0].startswith("public packs: 0 loaded, 16 unchanged, 0 failed")
    assert packs[1].startswith("public packs: 16 loaded, 0 unchanged, 0 failed")
    with psycopg.connect(empty_database_url) as conn:
        count = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    assert count == len(available_migrations())
