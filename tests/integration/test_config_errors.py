"""Every component refuses to start on a missing or malformed setting, with one line naming it."""

import pytest

from helpers import run_strata


@pytest.mark.parametrize("component", ["api", "provisioner", "beat"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [(None, "is not set"), ("mysql://db/strata", "must be a postgresql:// URL"), ("postgresql://db", "database")],
)
def test_bad_database_url_fails_at_start(strata_env, component, value, reason):
    env = dict(strata_env)
    env.pop("STRATA_DATABASE_URL")
    if value is not None:
        env["STRATA_DATABASE_URL"] = value
    result = run_strata(env, "serve", component)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "STRATA_DATABASE_URL" in lines[0] and reason in lines[0]
