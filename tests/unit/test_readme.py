"""The README's configuration table lists every setting the code reads."""

from pathlib import Path

from strata_common.config import VARIABLES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_variable_is_documented():
    missing = [var.env for var in VARIABLES.values() if f"| `{var.env}` |" not in README]
    assert missing == []
