"""The HTTP client behind the `strata` resource verbs: where the API is, which token, and output."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import requests
import yaml

from strata_cli.up import read_state, state_dir_of


class CliError(Exception):
    """Printed as one line; the command exits with status 1."""


def api_url() -> str:
    """STRATA_API_URL, else the API started by `strata up`, else the default address."""
    return (
        os.environ.get("STRATA_API_URL") or read_state(dict(os.environ)).get("api_url") or "http://127.0.0.1:8080"
    ).rstrip("/")


def api_token() -> str:
    """STRATA_TOKEN, else the admin token `strata up` keeps in its state folder."""
    token = os.environ.get("STRATA_TOKEN")
    if token:
        return token
    path = state_dir_of(dict(os.environ)) / "token"
    if path.exists():
        return path.read_text().strip()
    raise CliError("no token: set STRATA_TOKEN (create one with `strata token create --project NAME --role admin`)")


def call(method: str, path: str, body: Any = None) -> Any:
    try:
        response = requests.request(
            method,
            f"{api_url()}{path}",
            json=body,
            headers={"Authorization": f"Bearer {api_token()}"},
            timeout=30,
        )
    except requests.RequestException as err:
        raise CliError(f"cannot reach the API at {api_url()}: {err}") from None
    if response.status_code == 204:
        return None
    try:
        payload = response.json()
    except ValueError:
        raise CliError(f"{response.status_code} from the API: {response.text[:200]}") from None
    if not response.ok:
        error = payload.get("error", {})
        fields = "".join(f"\n  {k}: {v}" for k, v in (error.get("fields") or {}).items())
        raise CliError(f"{response.status_code} {error.get('code', '')}: {error.get('message', '')}{fields}")
    return payload


def read_document(path: str) -> dict[str, Any]:
    """A request body from a YAML or JSON file ("-" reads standard input)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        document = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as err:
        raise CliError(f"cannot read {path}: {err}") from None
    if not isinstance(document, dict):
        raise CliError(f"{path} must hold a mapping")
    return document


def show(data: Any, output: str, columns: list[tuple[str, str]]) -> None:
    """Print `data` (one resource or {"items": [...]}) as a table, JSON or YAML."""
    if output == "json":
        print(json.dumps(data, indent=2))
        return
    if output == "yaml":
        print(yaml.safe_dump(data, sort_keys=False), end="")
        return
    rows = data["items"] if isinstance(data, dict) and "items" in data else [data]
    table = [[header for header, _ in columns]] + [[_cell(row, key) for _, key in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _cell(row: dict[str, Any], key: str) -> str:
    value: Any = row
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        return ",".join(str(v.get("name", v)) if isinstance(v, dict) else str(v) for v in value)
    return "" if value is None else str(value)
