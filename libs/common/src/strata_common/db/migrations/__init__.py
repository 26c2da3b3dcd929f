"""Numbered SQL migrations, applied in order by strata_common.db.migrate."""
