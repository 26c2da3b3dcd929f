"""Update notifications offered: every live cluster on an older revision of its profile has one pending
notification, from the revision it runs to the profile's latest. A newer revision supersedes the pending
one (a new number, the same from-revision); a cluster that reaches the offered revision closes it as
applied. Set-based, so a revision of a profile a thousand clusters use is a few statements."""

from __future__ import annotations

from uuid import UUID

from strata_common.db.types import DbConnection
from strata_common.engine.events import CHANNEL

# The clusters to look at, by profile or by cluster, with where they are and what their profile offers.
_BEHIND = """
    SELECT c.id, c.profile_id, c.profile_revision AS from_revision, p.latest_revision AS to_revision
    FROM clusters c JOIN profiles p ON p.id = c.profile_id
    WHERE c.deleted_at IS NULL AND c.phase <> 'Deleting'
      AND (c.profile_id = %(profile)s OR c.id = %(cluster)s)
"""


def offer_updates(conn: DbConnection, *, profile_id: UUID | None = None, cluster_id: UUID | None = None) -> int:
    """Bring the pending notifications of a profile's clusters (or of one cluster) up to date; an
    `UpdateAvailable` event on each cluster offered a new one. The number of notifications offered."""
    args = {"profile": profile_id, "cluster": cluster_id}
    conn.execute(
        f"""
        WITH behind AS ({_BEHIND})
        UPDATE cluster_updates u SET closed_at = now(),
               status = CASE WHEN b.profile_id = u.profile_id AND b.from_revision >= u.to_revision
                             THEN 'applied' ELSE 'superseded' END
        FROM behind b
        WHERE u.cluster_id = b.id AND u.status = 'pending'
          AND (u.profile_id, u.from_revision, u.to_revision) IS DISTINCT FROM
              (b.profile_id, b.from_revision, b.to_revision)
        """,
        args,
    )
    offered = conn.execute(
        f"""
        WITH behind AS ({_BEHIND}), offered AS (
            INSERT INTO cluster_updates (cluster_id, number, profile_id, from_revision, to_revision, status)
            SELECT b.id, coalesce((SELECT max(number) FROM cluster_updates WHERE cluster_id = b.id), 0) + 1,
                   b.profile_id, b.from_revision, b.to_revision, 'pending'
            FROM behind b
            WHERE b.to_revision > b.from_revision
              AND NOT EXISTS (SELECT 1 FROM cluster_updates u WHERE u.cluster_id = b.id AND u.status = 'pending')
            ORDER BY b.id
            RETURNING cluster_id, number, from_revision, to_revision
        ), numbered AS (  -- the clusters' event numbers, rows locked in id order
            UPDATE clusters c SET event_seq = c.event_seq + 1 FROM offered o WHERE c.id = o.cluster_id
            RETURNING c.id, c.event_seq, o.number, o.from_revision, o.to_revision
        ), events AS (
            INSERT INTO events (cluster_id, seq, level, source, reason, message, data)
            SELECT id, event_seq, 'info', 'api', 'UpdateAvailable',
                   format('profile revision %%s is available (the cluster runs revision %%s): update %%s',
                          to_revision, from_revision, number),
                   jsonb_build_object('update', number, 'fromRevision', from_revision, 'toRevision', to_revision)
            FROM numbered
            RETURNING cluster_id
        )
        SELECT count(*) AS offered, count(pg_notify(%(channel)s, cluster_id::text)) FROM events
        """,
        {**args, "channel": CHANNEL},
    ).fetchone()
    return int(offered["offered"]) if offered else 0
