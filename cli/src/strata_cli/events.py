"""`strata events CLUSTER [--follow]`: print a cluster's events, or follow them live over SSE."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import requests

from strata_cli.client import api_token, api_url


def format_event(event: dict) -> str:
    return f"{event['time']}  {event['level']:<7} {event['source']:<12} {event['reason']}: {event['message']}"


def sse_events(response: requests.Response) -> Iterator[dict]:
    """Decode a text/event-stream body into the JSON of each event's data."""
    data: list[str] = []
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if data:
                yield json.loads("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def run_events(cluster: str, follow: bool, after: int) -> int:
    base = f"{api_url()}/v1/clusters/{cluster}/events"
    headers = {"Authorization": f"Bearer {api_token()}"}
    try:
        if follow:
            with requests.get(
                f"{base}/stream", params={"after": after}, headers=headers, stream=True, timeout=(5, None)
            ) as response:
                if not response.ok:
                    return _fail(response)
                for event in sse_events(response):
                    print(format_event(event), flush=True)
            return 0
        while True:
            response = requests.get(base, params={"after": after, "limit": 500}, headers=headers, timeout=10)
            if not response.ok:
                return _fail(response)
            page = response.json()
            for event in page["items"]:
                print(format_event(event))
            if len(page["items"]) < 500:
                return 0
            after = page["nextAfter"]
    except requests.RequestException as err:
        print(f"strata: cannot reach the API at {api_url()}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _fail(response: requests.Response) -> int:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    print(f"strata: {response.status_code}: {message}", file=sys.stderr)
    return 1
