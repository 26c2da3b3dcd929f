"""The API served by a real gunicorn process, and clients holding tokens of two projects."""

from __future__ import annotations

import pytest
from api_support import Client, make_token

from helpers import start_api


@pytest.fixture
def api_base(processes, strata_env) -> str:
    return start_api(processes, strata_env)


@pytest.fixture
def clients(api_base, database_url) -> dict[str, Client]:
    """admin, operator and viewer of project alpha; admin of project beta; and no token at all."""
    return {
        "admin": Client(api_base, make_token(database_url, "alpha", "admin")),
        "operator": Client(api_base, make_token(database_url, "alpha", "operator")),
        "viewer": Client(api_base, make_token(database_url, "alpha", "viewer")),
        "other": Client(api_base, make_token(database_url, "beta", "admin")),
        "anonymous": Client(api_base, None),
    }
