"""Queries by table family, one module each: every service reads and writes those tables through
here, so a lookup exists once (a project's row, a pack's definition, a cluster's secrets). Each
returns rows as dicts, or None when the row is not there; callers decide what a missing row means
(a 404 in the API, a bug in a handler)."""
