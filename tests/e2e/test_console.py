"""The web console in headless Chromium (Debian's, driven by Playwright): sign in, create a cluster and
watch its milestones turn done without a reload, its events and timeline; resolve an update's conflict
and apply it; a viewer sees no action and a forged change is refused. Screenshots of the fleet and
cluster pages are kept as test artifacts (STRATA_SCREENSHOTS, else build/screenshots)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from api_support import LOCAL_PROFILE, cluster_request
from playwright.sync_api import Browser, Page, expect, sync_playwright
from test_updates import POOLS, layers, revise, wait_running

CHROMIUM = "/usr/bin/chromium"
expect.set_options(timeout=30_000)  # what a page shows may wait for a step on a loaded machine
SHOTS = Path(os.environ.get("STRATA_SCREENSHOTS") or Path(__file__).parents[2] / "build" / "screenshots")
MILESTONE_SECONDS = 240_000  # Playwright's timeouts are in milliseconds


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is installed by `make system-deps`"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"],
        )  # fmt: skip
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    yield opened
    context.close()


def sign_in(page: Page, api_base: str, client, then: str = "/ui/") -> None:
    page.goto(f"{api_base}{then}")
    expect(page).to_have_url(re.compile(r"/ui/signin"))
    page.get_by_label("API token").fill(client.session.headers["Authorization"][7:])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_sign_in_create_a_cluster_and_watch_it_run_with_its_events_and_timeline(page, api_base, clients, fleet_env):
    op = clients["operator"]
    op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"})
    op.post("/v1/profiles", {**LOCAL_PROFILE, "name": "demo"})
    sign_in(page, api_base, op)
    cookie = next(c for c in page.context.cookies() if c["name"] == "strata_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    page.get_by_role("link", name="New cluster").click()
    page.get_by_label("Name").fill("Bad Name")
    page.get_by_role("button", name="Create").click()  # the browser's own check stops a bad name first
    page.get_by_label("Name").fill("shop")
    page.get_by_label("Zones (comma-separated)").fill("local-1a, nowhere-9z")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("422")  # the API's answer, in the page
    page.get_by_label("Zones (comma-separated)").fill("local-1a, local-1b")
    page.get_by_label("Worker nodes").fill("1")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="shop")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")

    milestones = page.locator("li.milestone")
    expect(milestones.first).to_be_visible()
    assert milestones.count() >= 6
    expect(page.locator("[data-phase]")).to_have_text("Running", timeout=MILESTONE_SECONDS)
    expect(page.locator("li.milestone:not([data-state=done])")).to_have_count(0)
    assert page.evaluate("window.stillTheSamePage === true")  # followed live: no reload
    assert "Creating Infrastructure" in milestones.locator(".title").all_inner_texts()
    assert page.locator("#event-rows tr").count() > 20  # the events that came while it ran were appended
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "console-cluster.png", full_page=False)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download kubeconfig").click()
    assert download.value.suggested_filename == "shop.kubeconfig"
    assert "current-context" in Path(download.value.path()).read_text()
    workers = page.get_by_label("Nodes in workers")
    workers.fill("1001")
    workers.locator("xpath=..").get_by_role("button", name="Scale").click()
    expect(page.get_by_role("alert")).to_contain_text("pools.1.count")  # the API's 422, in the page
    page.get_by_label("Nodes in workers").fill("2")
    page.get_by_label("Nodes in workers").locator("xpath=..").get_by_role("button", name="Scale").click()
    expect(page.locator("#pools").get_by_role("row").filter(has_text="workers")).to_contain_text("2")
    expect(page.locator("#milestones").get_by_role("row").filter(has_text="workers-")).to_have_count(2)

    page.get_by_role("link", name="Timeline").click()
    expect(page.get_by_role("heading", name=re.compile("Timeline of shop"))).to_be_visible()
    assert page.locator(".gantt-row").count() > 10 and page.locator(".gantt-bar.critical").count() >= 1

    page.get_by_role("link", name="Fleet").click()
    page.get_by_label("Search").fill("sho")
    page.get_by_role("button", name="Filter").click()
    row = page.get_by_role("row").filter(has_text="shop")
    expect(row).to_contain_text("1 + 2")
    page.evaluate("window.stillTheSamePage = true")
    expect(row).to_contain_text("Running", timeout=MILESTONE_SECONDS)  # after the scale-up, without a reload
    assert page.evaluate("window.stillTheSamePage === true")
    page.screenshot(path=SHOTS / "console-fleet.png", full_page=False)
    page.get_by_label("Search").fill("nothing-like-it")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No cluster matches.")).to_be_visible()

    page.get_by_role("link", name="Images").click()
    expect(page.get_by_role("row").filter(has_text="ubuntu-22.04")).to_contain_text("shop")
    page.goto(f"{api_base}/ui/")
    page.get_by_role("link", name="shop").click()
    page.get_by_label(re.compile("Type shop to delete")).fill("shoq")
    page.get_by_role("button", name="Delete cluster").click()
    expect(page.get_by_role("alert")).to_contain_text("type the cluster's name")
    page.get_by_label(re.compile("Type shop to delete")).fill("shop")
    page.get_by_role("button", name="Delete cluster").click()
    expect(page.get_by_role("row").filter(has_text="shop")).to_contain_text("Deleting")


def test_an_update_conflict_is_resolved_dry_run_and_applied_in_the_console(page, api_base, clients, fleet_env):
    op = clients["operator"]
    account = op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()["id"]
    profile = op.post("/v1/profiles", {"name": "web", "layers": layers()}).json()["id"]
    cluster = op.post("/v1/clusters", cluster_request(profile, account, name="shop", pools=POOLS)).json()["id"]
    wait_running(op, cluster)
    stored = op.put(f"/v1/clusters/{cluster}/packs/calico/values", {"mtu": 9000})
    wait_running(op, cluster, stored.json()["applying"]["generation"])
    revise(op, profile, calico={"pack": "calico", "version": "3.28.2", "values": "mtu: 1300\nencapsulation: IPIP\n"})

    sign_in(page, api_base, op, f"/ui/clusters/{cluster}")
    expect(page.locator("#updates")).to_contain_text("1 conflict(s) unresolved")
    layer = page.locator("details").filter(has_text="calico")
    layer.locator("summary").click()
    expect(layer.get_by_role("row").filter(has_text="mtu")).to_contain_text("override")
    page.get_by_role("link", name="Update 1").click()
    diff = page.locator("section.pack-diff").filter(has_text="calico")
    expect(diff.locator("tr.changed")).to_contain_text("mtu: 1300")
    expect(diff.locator("tr.added")).to_contain_text("encapsulation: IPIP")
    conflict = page.locator("tr[data-conflict='calico:mtu']")
    expect(conflict.locator("[data-resolution]")).to_have_text("unresolved")

    page.get_by_role("button", name="Apply").click()  # refused while the conflict is open: the API's 409
    expect(page.get_by_role("alert")).to_contain_text("409")
    expect(page.get_by_role("alert")).to_contain_text("calico:mtu")
    conflict.get_by_label(re.compile("A value of your own")).fill("[1500")
    conflict.get_by_role("button", name="Use value").click()
    expect(page.get_by_role("alert")).to_contain_text("the value is not YAML")
    conflict.get_by_role("button", name="Keep override").click()
    expect(conflict.locator("[data-resolution]")).to_have_text("keep-override")
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#plan")).to_contain_text("calico 3.28.2:")
    assert op.get(f"/v1/clusters/{cluster}/updates/1").json()["status"] == "pending"
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="shop")).to_be_visible()
    assert op.get(f"/v1/clusters/{cluster}/updates/1").json()["status"] == "applied"
    body = wait_running(op, cluster, op.get(f"/v1/clusters/{cluster}").json()["generation"])
    assert body["profile"]["revision"] == 2
    values = op.get(f"/v1/clusters/{cluster}/packs/calico/values").json()["values"]
    assert (values["mtu"], values["encapsulation"]) == (9000, "IPIP")

    page.get_by_role("link", name="Profiles").click()
    page.get_by_role("link", name="web").click()
    diff = page.locator("section.pack-diff")
    expect(diff).to_have_count(1)
    expect(diff.locator("tr.changed")).to_contain_text("mtu: 1400")
    page.get_by_label("From").select_option("2")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_text("No difference.")).to_be_visible()


def test_a_viewer_sees_no_action_and_forged_changes_are_refused(page, api_base, clients, database_url):
    op, viewer = clients["operator"], clients["viewer"]
    account = op.post("/v1/cloudaccounts", {"name": "lab", "cloud": "local"}).json()["id"]
    profile = op.post("/v1/profiles", LOCAL_PROFILE).json()["id"]
    cluster = op.post("/v1/clusters", cluster_request(profile, account, name="kept")).json()["id"]

    sign_in(page, api_base, viewer, f"/ui/clusters/{cluster}")
    expect(page.get_by_role("heading", name="kept")).to_be_visible()
    assert page.get_by_role("button").all_inner_texts() == ["Sign out"]
    page.goto(f"{api_base}/ui/")
    expect(page.get_by_role("row").filter(has_text="kept")).to_be_visible()
    assert page.get_by_role("link", name="New cluster").count() == 0
    page.goto(f"{api_base}/ui/clusters/00000000-0000-0000-0000-000000000000")
    expect(page.get_by_role("alert")).to_contain_text("404")

    jar = {c["name"]: c["value"] for c in page.context.cookies()}
    forged = requests.post(f"{api_base}/ui/clusters/{cluster}/delete", data={"confirm": "kept"}, cookies=jar,
                           allow_redirects=False, timeout=10)  # fmt: skip
    assert forged.status_code == 403  # no CSRF token
    token = viewer.session.headers["Authorization"][7:]
    elsewhere = requests.post(f"{api_base}/ui/signin", data={"token": token}, headers={"Origin": "https://evil.example"},
                              allow_redirects=False, timeout=10)  # fmt: skip
    assert elsewhere.status_code == 403 and "strata_console" not in elsewhere.cookies
    page.goto(f"{api_base}/docs")
    csrf = page.locator('meta[name="strata-csrf"]').get_attribute("content")
    path = page.locator(".opblock-summary-path", has_text=re.compile("^/v1/whoami$"))
    whoami = page.locator(".opblock").filter(has=path)
    whoami.locator(".opblock-summary").click()
    whoami.get_by_role("button", name="Try it out").click()
    whoami.get_by_role("button", name="Execute").click()  # "try it out" calls the API as the signed-in viewer
    expect(whoami.locator(".live-responses-table")).to_contain_text('"role": "viewer"')
    browser_like = requests.Session()
    browser_like.cookies.update(jar)
    with_token = browser_like.post(f"{api_base}/ui/clusters/{cluster}/delete", data={"confirm": "kept", "csrf": csrf},
                                   timeout=10)  # fmt: skip
    assert with_token.status_code == 200 and '<div class="error" role="alert"><strong>403</strong>' in with_token.text
    through_api = requests.delete(f"{api_base}/v1/clusters/{cluster}", cookies=jar, timeout=10)
    assert through_api.status_code == 403 and through_api.json()["error"]["code"] == "csrf"
    read = requests.get(f"{api_base}/v1/clusters/{cluster}", cookies=jar, timeout=10)
    assert read.status_code == 200 and read.json()["phase"] != "Deleting"
