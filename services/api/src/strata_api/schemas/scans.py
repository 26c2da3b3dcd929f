"""Schemas of a cluster's CIS scans."""

from __future__ import annotations

from marshmallow import fields

from strata_api.schemas import Response


class ScanTotals(Response):
    pass_ = fields.Integer(required=True, data_key="pass", attribute="pass")
    fail = fields.Integer(required=True)
    warn = fields.Integer(required=True)
    info = fields.Integer(required=True)


class ScanSummary(Response):
    number = fields.Integer(required=True)
    benchmark = fields.String(required=True, metadata={"description": "cis-1.9"})
    trigger = fields.String(required=True, metadata={"description": "create, update or demand"})
    scannedAt = fields.DateTime(required=True)
    totals = fields.Nested(ScanTotals, required=True)
    summary = fields.String(required=True, metadata={"description": "CIS 1.9: 70 pass, 1 fail, 27 warn"})


class ScanList(Response):
    items = fields.List(fields.Nested(ScanSummary), required=True)


class ScanResult(Response):
    id = fields.String(required=True, metadata={"description": "the benchmark's check number, 1.2.16"})
    text = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "PASS, FAIL, WARN or INFO"})
    scored = fields.Boolean(required=True)
    section = fields.String(required=True)
    nodeType = fields.String(required=True, metadata={"description": "master, etcd, controlplane, node, policies"})
    actual = fields.String(required=True)
    remediation = fields.String(required=True)
    reason = fields.String(required=True)


class ScanReport(ScanSummary):
    results = fields.List(fields.Nested(ScanResult), required=True)
