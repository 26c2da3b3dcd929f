"""The console's pages under /ui: fleet, cluster (milestones live, pools and nodes, layers with effective
values, events, timeline, updates with diff and conflicts, scans, kubeconfig, scale, delete), profiles
with the diff between revisions, and images. Reads and changes go through the API (`Api`); a change's
4xx answer is shown in the page as the API gave it."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml
from flask import Blueprint, Response, abort, flash, get_flashed_messages, redirect, render_template, request, url_for

from strata_api.ui import session
from strata_api.ui.client import Api, ApiFailure
from strata_api.ui.diffs import layer_diff
from strata_api.ui.gantt import gantt
from strata_common.packs.values import leaf_values

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static")
ROLES = ("viewer", "operator", "admin")
PHASES = ("Provisioning", "Running", "Updating", "Deleting")


@bp.errorhandler(ApiFailure)
def _api_failure(failure: ApiFailure):
    """A page whose reading the API refused (a cluster gone, another project's id): the API's words."""
    return render_template("failure.html", error=failure, me=None), failure.status


@bp.before_request
def same_origin() -> None:
    """A form posted from another site is refused, the sign-in form too (SameSite keeps the cookie from
    going along, but a sign-in needs no cookie)."""
    origin = request.headers.get("Origin")
    if request.method == "POST" and origin and urlsplit(origin).netloc != request.host:
        abort(Response("a form of another site cannot post here", 403))


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """The view runs with `api` (the signed-in person's calls) and `me` (whoami); else to the sign-in page.
    A form (POST) must carry the session's CSRF token."""

    @wraps(view)
    def wrapper(**kwargs: Any) -> Any:
        current = session.current()
        if current is None:
            if request.method == "POST":
                abort(Response("sign in first", 401))
            return redirect(url_for("ui.signin", next=request.full_path.rstrip("?")))
        if request.method == "POST" and not session.csrf_matches(current, request.form.get(session.CSRF_FIELD)):
            abort(Response("the form's CSRF token is missing or stale: reload the page", 403))
        api = Api(current.token)
        try:
            me = api.get("/whoami")
        except ApiFailure:
            response = redirect(url_for("ui.signin"))
            session.sign_out(response)
            return response
        me["operator"] = ROLES.index(me["role"]) >= 1
        return view(api=api, me=me, csrf=current.csrf, **kwargs)

    return wrapper


def _page(template: str, error: ApiFailure | None = None, **context: Any) -> str:
    """A page with the error a change just met (given, or said by the view that redirected here)."""
    said = get_flashed_messages(category_filter=["failure"])
    return render_template(template, phases=PHASES, error=error or (ApiFailure(**said[0]) if said else None),
                           **context)  # fmt: skip


def _said(failure: ApiFailure) -> None:
    """Keep `failure` for the page the browser is redirected to (Flask's signed session cookie)."""
    flash({"status": failure.status, "code": failure.code, "message": failure.message, "fields": failure.fields},
          "failure")  # fmt: skip


@bp.get("/signin")
def signin():
    return render_template("signin.html", next=request.args.get("next", ""), error=None)


@bp.post("/signin")
def signin_post():
    token = request.form.get("token", "").strip()
    target = request.form.get("next", "")
    try:
        Api(token).get("/whoami") if token else None
    except ApiFailure as failure:
        return render_template("signin.html", next=target, error=failure.message), 401
    if not token:
        return render_template("signin.html", next=target, error="give an API token (`strata token create`)"), 422
    response = redirect(target if target.startswith("/ui") else url_for("ui.fleet"))
    session.sign_in(response, token)
    return response


@bp.post("/signout")
def signout():
    response = redirect(url_for("ui.signin"))
    session.sign_out(response)
    return response


@bp.get("/")
@signed_in
def fleet(api: Api, me: dict, csrf: str):
    search, phase, cursor = (
        request.args.get("q", "").strip(),
        request.args.get("phase") or None,
        request.args.get("cursor"),
    )
    error = None
    try:
        page = api.get("/clusters", search=search or None, phase=phase, cursor=cursor, limit=25)
        updates = {item["cluster"]["id"] for item in api.get("/updates", limit=1000)["items"]}
        clouds = {account["id"]: account["cloud"] for account in api.get("/cloudaccounts")["items"]}
    except ApiFailure as failure:
        page, updates, clouds, error = {"items": [], "nextCursor": None}, set(), {}, failure
    rows = [_fleet_row(c, c["id"] in updates, clouds.get(c["cloudAccount"], "")) for c in page["items"]]
    if request.args.get("fragment") == "rows":  # the page's rows again, fetched by the page every few seconds
        return render_template("fleet_rows.html", rows=rows)
    following = "?" + urlencode({"q": search, "phase": phase or "", "cursor": page["nextCursor"]}) \
        if page["nextCursor"] else None  # fmt: skip
    fragment = "?" + urlencode({"q": search, "phase": phase or "", "cursor": cursor or "", "fragment": "rows"})
    return _page("fleet.html", me=me, csrf=csrf, rows=rows, search=search, phase=phase, following=following,
                 fragment=fragment, error=error)  # fmt: skip


def _fleet_row(cluster: dict, pending_update: bool, cloud: str) -> dict:
    conditions = cluster["conditions"]
    active = next((c for c in conditions if c["status"] != "True" and c["type"] != "Ready"), None)
    counts = {
        role: sum(p["count"] for p in cluster["pools"] if p["role"] == role) for role in ("controlPlane", "worker")
    }
    return {**cluster, "active": active, "controlPlane": counts["controlPlane"], "workers": counts["worker"],
            "pendingUpdate": pending_update, "cloudType": cloud}  # fmt: skip


@bp.get("/clusters/new")
@signed_in
def new_cluster(api: Api, me: dict, csrf: str):
    profiles = api.get("/profiles")["items"]
    accounts = api.get("/cloudaccounts")["items"]
    catalog = api.get(f"/cloudaccounts/{accounts[0]['id']}/catalog") if accounts else None
    return _page("new_cluster.html", me=me, csrf=csrf, profiles=profiles, accounts=accounts, catalog=catalog,
                 form=request.args, error=None)  # fmt: skip


@bp.post("/clusters")
@signed_in
def create_cluster(api: Api, me: dict, csrf: str):
    form = request.form
    zones = [z.strip() for z in form.get("zones", "").split(",") if z.strip()]
    body = {"name": form.get("name", ""), "profile": {"id": form.get("profile", "")},
            "cloudAccount": form.get("account", ""), "cloud": {"region": form.get("region", "")},
            "pools": [{"name": "control-plane", "role": "controlPlane", "count": _int(form.get("controlPlane")),
                       "instanceType": form.get("instanceType", ""), "zones": zones},
                      {"name": "workers", "role": "worker", "count": _int(form.get("workers")),
                       "instanceType": form.get("instanceType", ""), "zones": zones}]}  # fmt: skip
    try:
        created = api.call("POST", "/clusters", body)
    except ApiFailure as failure:
        profiles, accounts = api.get("/profiles")["items"], api.get("/cloudaccounts")["items"]
        return _page("new_cluster.html", me=me, csrf=csrf, profiles=profiles, accounts=accounts, catalog=None,
                     form=form, error=failure), failure.status  # fmt: skip
    return redirect(url_for("ui.cluster", cluster_id=created["id"]))


def _int(raw: str | None) -> int | str:
    """A form's number as a number, else as typed (the API names the field that is not one)."""
    try:
        return int(raw or "")
    except ValueError:
        return raw or ""


def _cluster_context(api: Api, cluster_id: str) -> dict[str, Any]:
    cluster = api.get(f"/clusters/{cluster_id}")
    machines = api.get(f"/clusters/{cluster_id}/machines")["items"]
    return {"cluster": cluster, "machines": machines,
            "milestones": [c for c in cluster["conditions"] if c["type"] != "Ready"],
            "ready": next((c for c in cluster["conditions"] if c["type"] == "Ready"), None)}  # fmt: skip


@bp.get("/clusters/<cluster_id>")
@signed_in
def cluster(api: Api, me: dict, csrf: str, cluster_id: str):
    context = _cluster_context(api, cluster_id)
    profile = api.get(f"/profiles/{context['cluster']['profile']['id']}/revisions/"
                      f"{context['cluster']['profile']['revision']}")  # fmt: skip
    layers = []
    for layer in profile["layers"]:
        try:
            values = api.get(f"/clusters/{cluster_id}/packs/{layer['pack']}/values")
        except ApiFailure:
            values = None
        layers.append(
            {**layer, "effective": values and leaf_values(values["values"]), "origins": values and values["origins"]}
        )
    events = api.get(f"/clusters/{cluster_id}/events", limit=200, tail="true")
    updates = api.get(f"/clusters/{cluster_id}/updates")["items"]
    scans = api.get(f"/clusters/{cluster_id}/scans")["items"]
    scan = api.get(f"/clusters/{cluster_id}/scans/{scans[0]['number']}", status="FAIL") if scans else None
    return _page("cluster.html", me=me, csrf=csrf, layers=layers, events=events["items"], after=events["nextAfter"],
                 updates=updates, scan=scan, **context)  # fmt: skip


@bp.get("/clusters/<cluster_id>/milestones")
@signed_in
def milestones(api: Api, me: dict, csrf: str, cluster_id: str):
    """The milestones and phase as a fragment, fetched by the page when the event stream says something moved."""
    return render_template("milestones.html", **_cluster_context(api, cluster_id))


def _back(cluster_id: str, failure: ApiFailure | None = None, anchor: str = "") -> Response:
    if failure:
        _said(failure)
    return redirect(url_for("ui.cluster", cluster_id=cluster_id) + anchor)


@bp.post("/clusters/<cluster_id>/scale")
@signed_in
def scale(api: Api, me: dict, csrf: str, cluster_id: str):
    try:
        pools = api.get(f"/clusters/{cluster_id}")["pools"]
        chosen = request.form.get("pool")
        if chosen not in {p["name"] for p in pools}:
            raise ApiFailure(422, "invalid", f"no pool {chosen!r}", {"pool": "unknown"})
        changed = [
            {**p, "count": _int(request.form.get("count")) if p["name"] == chosen else p["count"]} for p in pools
        ]
        api.call("PATCH", f"/clusters/{cluster_id}", {"pools": changed})
    except ApiFailure as failure:
        return _back(cluster_id, failure, "#pools")
    return _back(cluster_id, anchor="#pools")


@bp.post("/clusters/<cluster_id>/delete")
@signed_in
def delete(api: Api, me: dict, csrf: str, cluster_id: str):
    try:
        name = api.get(f"/clusters/{cluster_id}")["name"]
        if request.form.get("confirm") != name:
            raise ApiFailure(422, "unconfirmed", "type the cluster's name to delete it", {"confirm": "not its name"})
        api.call("DELETE", f"/clusters/{cluster_id}")
    except ApiFailure as failure:
        return _back(cluster_id, failure, "#delete")
    return redirect(url_for("ui.fleet"))


@bp.get("/clusters/<cluster_id>/kubeconfig")
@signed_in
def kubeconfig(api: Api, me: dict, csrf: str, cluster_id: str):
    try:
        name = api.get(f"/clusters/{cluster_id}")["name"]
        text = api.get(f"/clusters/{cluster_id}/kubeconfig")["kubeconfig"]
    except ApiFailure as failure:
        return _back(cluster_id, failure)
    return Response(text, mimetype="application/yaml",
                    headers={"Content-Disposition": f'attachment; filename="{name}.kubeconfig"'})  # fmt: skip


@bp.get("/clusters/<cluster_id>/timeline")
@signed_in
def timeline(api: Api, me: dict, csrf: str, cluster_id: str):
    cluster = api.get(f"/clusters/{cluster_id}")
    try:
        found = api.get(f"/clusters/{cluster_id}/timeline")
    except ApiFailure as failure:
        found, error = None, failure
    else:
        error = None
    return _page("timeline.html", me=me, csrf=csrf, cluster=cluster, timeline=found, chart=found and gantt(found),
                 error=error)  # fmt: skip


@bp.get("/clusters/<cluster_id>/updates/<int:number>")
@signed_in
def update(api: Api, me: dict, csrf: str, cluster_id: str, number: int, plan: Any = None, error: Any = None):
    cluster = api.get(f"/clusters/{cluster_id}")
    found = api.get(f"/clusters/{cluster_id}/updates/{number}")
    revisions = found["profile"]
    old = api.get(f"/profiles/{revisions['id']}/revisions/{revisions['fromRevision']}")
    new = api.get(f"/profiles/{revisions['id']}/revisions/{revisions['toRevision']}")
    return _page("update.html", me=me, csrf=csrf, cluster=cluster, update=found, diff=layer_diff(old, new),
                 plan=plan, error=error)  # fmt: skip


@bp.post("/clusters/<cluster_id>/updates/<int:number>/resolve")
@signed_in
def resolve(api: Api, me: dict, csrf: str, cluster_id: str, number: int):
    form = request.form
    resolution: dict[str, Any] = {"pack": form.get("pack", ""), "path": form.get("path", ""),
                                  "action": form.get("action", "")}  # fmt: skip
    try:
        if resolution["action"] == "value":
            resolution["value"] = yaml.safe_load(form.get("value", "")) if form.get("value") else None
        api.call("PUT", f"/clusters/{cluster_id}/updates/{number}/resolutions", {"resolutions": [resolution]})
    except (ApiFailure, yaml.YAMLError) as failure:
        _said(failure if isinstance(failure, ApiFailure) else
              ApiFailure(422, "invalid_value", "the value is not YAML", {"value": str(failure)}))  # fmt: skip
    return redirect(url_for("ui.update", cluster_id=cluster_id, number=number) + "#conflicts-heading")


@bp.post("/clusters/<cluster_id>/updates/<int:number>/apply")
@signed_in
def apply(api: Api, me: dict, csrf: str, cluster_id: str, number: int):
    dry = request.form.get("dryRun") == "true"
    try:
        answer = api.call("POST", f"/clusters/{cluster_id}/updates/{number}/apply", dryRun="true" if dry else None)
    except ApiFailure as failure:
        page = update.__wrapped__(api=api, me=me, csrf=csrf, cluster_id=cluster_id, number=number, error=failure)
        return page, failure.status
    if dry:
        return update.__wrapped__(api=api, me=me, csrf=csrf, cluster_id=cluster_id, number=number, plan=answer)
    return redirect(url_for("ui.cluster", cluster_id=cluster_id))


@bp.get("/profiles")
@signed_in
def profiles(api: Api, me: dict, csrf: str):
    return _page("profiles.html", me=me, csrf=csrf, profiles=api.get("/profiles")["items"])


@bp.get("/profiles/<profile_id>")
@signed_in
def profile(api: Api, me: dict, csrf: str, profile_id: str):
    found = api.get(f"/profiles/{profile_id}")
    latest = found["revision"]
    old, new = _int(request.args.get("from", str(max(1, latest - 1)))), _int(request.args.get("to", str(latest)))
    try:
        diff = layer_diff(api.get(f"/profiles/{profile_id}/revisions/{old}"),
                          api.get(f"/profiles/{profile_id}/revisions/{new}"))  # fmt: skip
        error = None
    except ApiFailure as failure:
        diff, error = [], failure
    return _page("profile.html", me=me, csrf=csrf, profile=found, revisions=range(latest, 0, -1), old=old, new=new,
                 diff=diff, error=error)  # fmt: skip


@bp.get("/images")
@signed_in
def images(api: Api, me: dict, csrf: str):
    by_signature: dict[str, dict[str, Any]] = {}
    for image in api.get("/images")["items"]:
        entry = by_signature.setdefault(image["signature"], {**image, "regions": [], "scan": None})
        entry["regions"].append(f"{image['region']}: {image['imageId']} ({image['state']})")
        if entry["scan"] is None:
            try:
                entry["scan"] = api.get(f"/images/{image['imageId']}/scan")
            except ApiFailure:
                entry["scan"] = {}
    return _page("images.html", me=me, csrf=csrf, images=list(by_signature.values()))
