"""Settings: defaults, validation, and one-line errors naming the variable."""

import pytest

from strata_common.config import ConfigError, load_settings

GOOD = {
    "STRATA_DATABASE_URL": "postgresql://strata@db:5432/strata",
    "STRATA_REDIS_URL": "redis://redis:6379/0",
    "STRATA_SECRET_KEY": "x" * 40,
}


def test_defaults_fill_what_is_not_set():
    settings = load_settings(GOOD)
    assert settings.api_port == 8080
    assert settings.flower_port == 5555
    assert settings.log_level == "INFO"


def test_socket_urls_are_accepted():
    settings = load_settings({**GOOD, "STRATA_DATABASE_URL": "postgresql://postgres:@/strata?host=/tmp/pg"})
    assert settings.database_url.endswith("host=/tmp/pg")


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"STRATA_DATABASE_URL": ""}, "STRATA_DATABASE_URL"),
        ({"STRATA_DATABASE_URL": "mysql://db/strata"}, "STRATA_DATABASE_URL"),
        ({"STRATA_DATABASE_URL": "postgresql://db"}, "STRATA_DATABASE_URL"),
        ({"STRATA_REDIS_URL": "http://redis"}, "STRATA_REDIS_URL"),
        ({"STRATA_SECRET_KEY": "short"}, "STRATA_SECRET_KEY"),
        ({"STRATA_API_PORT": "eighty"}, "STRATA_API_PORT"),
        ({"STRATA_API_PORT": "70000"}, "STRATA_API_PORT"),
        ({"STRATA_LOG_LEVEL": "loud"}, "STRATA_LOG_LEVEL"),
        ({"STRATA_STEP_BACKOFF_CAP": "-1"}, "STRATA_STEP_BACKOFF_CAP"),
    ],
)
def test_bad_values_name_the_variable_in_one_line(changes, variable):
    with pytest.raises(ConfigError) as err:
        load_settings({**GOOD, **changes})
    assert variable in str(err.value)
    assert "\n" not in str(err.value)
