"""A cluster's CIS scan: the kubeadm documents of a control-plane node and of a worker rendered as Strata
gives them to its nodes (the cluster's own kubernetes pack, secrets and endpoint), evaluated, and kept as a
kube-bench report in `cluster_scans`, numbered per cluster."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from strata_common.bootstrap import kubeadm_documents
from strata_common.cis import evaluate, kubebench
from strata_common.cis.checks import VERSION
from strata_common.cis.nodes import node
from strata_common.config import Settings
from strata_common.db.queries import packs, secrets
from strata_common.db.types import DbConnection, one
from strata_common.model.cluster import ClusterSpec
from strata_common.packs.values import effective_values


class NotScannable(LookupError):
    """The cluster has no PKI yet: its nodes' configuration cannot be rendered."""


def scan_cluster(conn: DbConnection, cluster_id: UUID, settings: Settings, trigger: str) -> dict[str, Any]:
    """Scan the cluster now and keep the report; the scan's row."""
    row = one(conn.execute("SELECT spec, status FROM clusters WHERE id = %s", (cluster_id,)).fetchone())
    spec = ClusterSpec.from_json(row["spec"])
    found = secrets.unsealed(conn, cluster_id, settings.secret_key)
    if found is None:
        raise NotScannable("the cluster's PKI does not exist yet")
    layer = spec.layer_of("k8s")
    definition = packs.definition(conn, layer.pack_id)
    values, _ = effective_values(definition, layer.values, None)
    endpoint = str((row["status"] or {}).get("endpoint") or "https://api.pending:6443").removeprefix("https://")
    rendered = [kubeadm_documents({"name": f"cis-{role}", "pool": role, "role": role, "index": 0},
                                  role == "controlPlane", endpoint, definition["kubernetes"], values, found)
                for role in ("controlPlane", "worker")]  # fmt: skip
    cluster = next(d for d in rendered[0] if d["kind"] == "ClusterConfiguration")
    report = evaluate.report(node(rendered[0], cluster), node(rendered[1], None), spec.kubernetes_version())
    totals = kubebench.parse(report).totals
    return one(conn.execute(
        "INSERT INTO cluster_scans (cluster_id, number, benchmark, trigger, totals, report)"
        " SELECT %s, coalesce(max(number), 0) + 1, %s, %s, %s, %s FROM cluster_scans WHERE cluster_id = %s"
        " RETURNING *",
        (cluster_id, VERSION, trigger, Jsonb(totals), Jsonb(report), cluster_id),
    ).fetchone())  # fmt: skip


def summary(scan: dict[str, Any]) -> str:
    """ "CIS 1.9: 70 pass, 1 fail, 27 warn"."""
    t = scan["totals"]
    return f"CIS {scan['benchmark'].removeprefix('cis-')}: {t['pass']} pass, {t['fail']} fail, {t['warn']} warn"
