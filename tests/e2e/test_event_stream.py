"""Events over HTTP: paged, and live as Server-Sent Events resumable with Last-Event-ID."""

from __future__ import annotations

import json
import threading

import requests
from engine_support import connect, new_cluster

from helpers import STRATA, wait_until
from strata_api.schemas import EventList
from strata_common.engine.events import append_event


def write_events(database_url: str, cluster, count: int, start: int = 0) -> None:
    with connect(database_url) as conn:
        for i in range(start, start + count):
            append_event(conn, cluster, "info", "test", "Tick", f"event {i}", {"i": i})
            conn.commit()


def read_sse(response: requests.Response, count: int) -> list[dict]:
    """The first `count` events of an SSE response, as {id, event, data}."""
    events, current = [], {}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if "data" in current:
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            current[field] = value
    return events


def test_paging_events(clients, database_url, projects):
    viewer = clients["viewer"]
    cluster = new_cluster(database_url, project=projects[0])
    write_events(database_url, cluster, 5)
    first = viewer.get(f"/v1/clusters/{cluster}/events?limit=3").json()
    assert [e["message"] for e in first["items"]] == ["event 0", "event 1", "event 2"]
    assert EventList().validate(first) == {}
    rest = viewer.get(f"/v1/clusters/{cluster}/events?after={first['nextAfter']}").json()
    assert [e["id"] for e in rest["items"]] == [4, 5]
    bad = viewer.get(f"/v1/clusters/{cluster}/events?limit=zero")
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {"limit": "not an integer"}
    missing = viewer.get("/v1/clusters/7b0c3a4e-0000-4000-8000-000000000000/events")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert clients["other"].get(f"/v1/clusters/{cluster}/events").status_code == 404


def test_stream_delivers_in_order_and_resumes_without_gaps_or_repeats(clients, database_url, projects):
    viewer = clients["viewer"]
    cluster = new_cluster(database_url, project=projects[0])
    write_events(database_url, cluster, 3)
    url = f"/v1/clusters/{cluster}/events/stream"
    with viewer.get(url, stream=True) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        writer = threading.Thread(target=write_events, args=(database_url, cluster, 7, 3))
        writer.start()  # live events arrive while the stream is open
        first = read_sse(response, 6)
        writer.join()
    assert [int(e["id"]) for e in first] == [1, 2, 3, 4, 5, 6]
    assert [json.loads(e["data"])["message"] for e in first] == [f"event {i}" for i in range(6)]

    with viewer.get(url, headers={"Last-Event-ID": first[-1]["id"]}, stream=True) as response:
        rest = read_sse(response, 4)
    assert [int(e["id"]) for e in rest] == [7, 8, 9, 10]
    assert [json.loads(e["data"])["data"]["i"] for e in rest] == [6, 7, 8, 9]


def test_a_hundred_open_streams_all_get_a_new_event(clients, database_url, projects):
    viewer = clients["viewer"]
    cluster = new_cluster(database_url, project=projects[0])
    url = f"{viewer.base}/v1/clusters/{cluster}/events/stream"
    received: list[str] = []
    lock = threading.Lock()
    opened = threading.Barrier(101)

    def listen():
        try:
            response = requests.get(url, headers=viewer.session.headers, stream=True, timeout=60)
        finally:
            opened.wait(timeout=120)  # never leave the others waiting, even if this one failed
        with response:
            event = read_sse(response, 1)
        with lock:
            received.extend(e["data"] for e in event)

    listeners = [threading.Thread(target=listen) for _ in range(100)]
    for listener in listeners:
        listener.start()
    opened.wait(timeout=120)  # all 100 streams are open before the event exists
    write_events(database_url, cluster, 1)
    for listener in listeners:
        listener.join()
    assert len(received) == 100
    assert {json.loads(d)["message"] for d in received} == {"event 0"}


def test_strata_events_follow_prints_live_events(clients, database_url, projects, processes, strata_env, tmp_path):
    viewer = clients["viewer"]
    cluster = new_cluster(database_url, project=projects[0])
    write_events(database_url, cluster, 2)
    token = viewer.session.headers["Authorization"].split()[1]
    env = {**strata_env, "STRATA_API_URL": viewer.base, "STRATA_TOKEN": token}
    follower = processes.start("follow", [*STRATA, "events", str(cluster), "--follow"], env)
    write_events(database_url, cluster, 2, start=2)
    log = tmp_path / "follow.log"
    wait_until(lambda: "event 3" in log.read_text(), timeout=30, message="the follower to print event 3")
    lines = [line for line in log.read_text().splitlines() if "Tick" in line]
    assert [line.rsplit(": ", 1)[1] for line in lines] == [f"event {i}" for i in range(4)]
    assert follower.poll() is None  # still following
