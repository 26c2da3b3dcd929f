"""Step handlers of the add-ons service: apply a pack's objects by server-side apply (field manager
`strata`), prune what it no longer declares (by the pack's inventory), wait for its workloads; prune
packs the cluster no longer has."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from strata_common.db.agents import agent_presence, authenticate_agent, forget_agent, issue_agent_token, last_report
from strata_common.db.types import DbConnection
from strata_common.engine.errors import USER_FIXABLE, Retry, StepError
from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext
from strata_common.kube.agent_pack import AGENT_MANAGER, TOKEN_SECRET, agent_objects, token_secret
from strata_common.kube.agent_pack import NAMESPACE as AGENT_NAMESPACE
from strata_common.kube.agent_pack import PACK as AGENT_PACK
from strata_common.kube.agent_pack import VERSION as AGENT_VERSION
from strata_common.kube.client import KubeClient, KubeError
from strata_common.kube.inventory import (
    MANAGER,
    apply_pack,
    object_key,
    remove_pack,
    remove_packs,
    with_namespace,
)
from strata_common.kube.readiness import WORKLOADS, not_ready
from strata_common.kube_steps import kube
from strata_common.model.cluster import ClusterSpec, Layer
from strata_common.packs.rendering import RenderError, rendered_pack

AGENT_POLL_SECONDS = 2.0  # how often a pull-mode step looks at the agent's last report


def pack_objects(ctx: StepContext, pack: str) -> tuple[Layer, list[dict[str, Any]]]:
    """(layer, labelled objects) of the cluster's layer `pack` with its effective values."""
    with ctx.db.connection() as conn:
        return rendered(conn, ctx.spec, pack)


def rendered(conn: DbConnection, spec: ClusterSpec, pack: str) -> tuple[Layer, list[dict[str, Any]]]:
    """The pack rendered; what cannot be is the user's to fix."""
    try:
        return rendered_pack(conn, spec, pack)
    except RenderError as err:
        raise StepError(err.reason, str(err), USER_FIXABLE) from None


def _apply(ctx: StepContext, client: KubeClient, obj: dict[str, Any]) -> dict[str, Any]:
    """Apply without force first: if another manager changed a field Strata declares, say so, then take it."""
    obj = with_namespace(client, obj)
    try:
        return client.apply(obj, MANAGER)
    except KubeError as err:
        if err.status != 409:
            raise
        causes = err.causes
    ctx.event("warning", "DriftCorrected", f"{obj['kind']} {obj['metadata']['name']}: taking back fields changed "
              f"outside Strata ({'; '.join(causes)})", {"object": object_key(obj), "conflicts": causes})  # fmt: skip
    return client.apply(obj, MANAGER, force=True)


@step_handler("addons", "ensure_pack")
def ensure_pack(ctx: StepContext) -> dict:
    """Apply the pack once, then look at its workloads: while they come up the step gives its slot back
    and looks again later (without applying again unless what it would apply changed). Workloads that an
    apply just created or changed are not looked at in the same run: no controller has acted on them yet."""
    pack = ctx.step.input["pack"]
    if ctx.spec.pulled:
        return _applied_by_agent(ctx, pack)
    entry, objects = pack_objects(ctx, pack)
    digest = hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()
    progress = ctx.step.output or {}
    workloads = [obj for obj in objects if obj["kind"] in WORKLOADS]
    with kube(ctx) as client:
        if progress.get("applied") != digest:
            progress = {"applied": digest, "polls": 0, **_apply_pack(ctx, client, pack, entry.version, objects)}
            ctx.note(**progress)
            if progress["changed"] and workloads:
                raise Retry(_poll_seconds(ctx, 0), f"{pack}: {progress['changed']} objects applied, waiting for "
                            f"{len(workloads)} workloads")  # fmt: skip
        waiting = [problem for obj in workloads if (problem := not_ready(client, obj))]
    stuck = [w.message for w in waiting if w.stuck]
    if stuck:
        raise StepError("WorkloadNotAvailable", "; ".join(stuck), USER_FIXABLE)
    if waiting:
        ctx.note(polls=progress["polls"] + 1)
        raise Retry(_poll_seconds(ctx, progress["polls"] + 1), "; ".join(w.message for w in waiting))
    return {"pack": pack, "version": entry.version, "objects": len(objects), "changed": progress["changed"],
            "pruned": progress["pruned"]}  # fmt: skip


def _agent_report(ctx: StepContext) -> dict[str, Any]:
    """The agent's last report once it covers this step's generation; until then the step waits."""
    with ctx.db.connection() as conn:
        last = last_report(conn, ctx.step.cluster_id)
    if last is None or last["generation"] < ctx.step.generation:
        said = (f"it last reported generation {last['generation']} at {last['reported_at']:%H:%M:%S}" if last
                else "it has not reported yet")  # fmt: skip
        raise Retry(AGENT_POLL_SECONDS, f"waiting for the agent to apply generation {ctx.step.generation} ({said})")
    return last["report"]


def _applied_by_agent(ctx: StepContext, pack: str) -> dict:
    """Pull mode: the agent applies the pack; the step waits for its report of this generation to say the
    pack's workloads are available (or why they cannot be)."""
    found = next((p for p in _agent_report(ctx)["packs"] if p["pack"] == pack), None)
    if found is None or found["state"] == "progressing":
        shown = found["message"] if found else "not applied yet"
        raise Retry(AGENT_POLL_SECONDS, f"{pack}, applied by the cluster's agent: {shown}")
    if found["state"] == "failed":
        raise StepError("WorkloadNotAvailable", f"{pack} (applied by the cluster's agent): {found['message']}",
                        USER_FIXABLE)  # fmt: skip
    return {"pack": pack, "appliedBy": AGENT_MANAGER}


@step_handler("addons", "ensure_agent")
def ensure_agent(ctx: StepContext) -> dict:
    """Pull mode: install the cluster's agent unless it reports already (then it keeps its own pack, and the
    cluster's API is not called): its pack, and the Secret with its token (minted unless the one there still
    works); wait for it to run. Push mode: remove an agent the cluster had (its pack, its token's Secret,
    its tokens, its report): the add-ons service applies again."""
    cluster_id = ctx.step.cluster_id
    with ctx.db.connection() as conn:
        reported, token = agent_presence(conn, cluster_id)
    if ctx.spec.pulled and reported:
        return {"installed": "reporting"}
    if not ctx.spec.pulled and not (reported or token):
        return {"removed": 0}
    with kube(ctx) as client:
        if not ctx.spec.pulled:  # every part removed each time: a run killed midway leaves no token behind
            removed = remove_pack(client, AGENT_PACK)
            client.delete("v1", "Secret", AGENT_NAMESPACE, TOKEN_SECRET)
            with ctx.db.connection() as conn:
                forget_agent(conn, cluster_id)
            if removed:
                ctx.event("info", "AgentRemoved", f"push mode: the agent is removed ({len(removed)} objects)")
            return {"removed": len(removed)}
        objects = agent_objects(str(cluster_id), ctx.settings)
        _apply_pack(ctx, client, AGENT_PACK, AGENT_VERSION, objects)
        secret = client.get("v1", "Secret", AGENT_NAMESPACE, TOKEN_SECRET)
        held = base64.b64decode(((secret or {}).get("data") or {}).get("token", "")).decode()
        with ctx.db.connection() as conn:
            agent = authenticate_agent(conn, held) if held else None
            if agent is None or agent.cluster_id != cluster_id:
                token, expires = issue_agent_token(conn, cluster_id, ctx.settings.agent_token_seconds)
                conn.commit()
                client.apply(token_secret(token, expires), MANAGER, force=True)
                ctx.event("info", "AgentTokenIssued", "a token for the cluster's agent is in its Secret "
                          f"{AGENT_NAMESPACE}/{TOKEN_SECRET}")  # fmt: skip
        deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
        waiting = not_ready(client, deployment)
    if waiting:
        if waiting.stuck:
            raise StepError("WorkloadNotAvailable", f"the agent: {waiting.message}", USER_FIXABLE)
        raise Retry(AGENT_POLL_SECONDS, f"the agent: {waiting.message}")
    return {"installed": AGENT_VERSION}


def _apply_pack(
    ctx: StepContext, client: KubeClient, pack: str, version: str, objects: list[dict[str, Any]]
) -> dict[str, int]:
    """Apply every object, prune what the pack no longer declares, save the inventory; the counts."""
    changed, pruned = apply_pack(client, pack, version, objects, lambda obj: _apply(ctx, client, obj))
    if changed or pruned:
        shown = ", ".join(" ".join(k.split("|")[1:][::2]) for k in changed[:10])
        ctx.event("info", "PackApplied", f"{pack}@{version}: {len(changed)} of {len(objects)} objects "
                  f"created or changed{f' ({shown})' if shown else ''}, {len(pruned)} pruned",
                  {"pack": pack, "changed": changed, "pruned": pruned})  # fmt: skip
    return {"changed": len(changed), "pruned": len(pruned)}


def _poll_seconds(ctx: StepContext, polls: int) -> float:
    """When to look at the workloads again: soon at first, then less often (workloads that take long
    to come up are not looked at hundreds of times), scaled like the cloud's latencies."""
    first = max(0.2, 2.5 * ctx.settings.localcloud_time_scale)
    return min(5.0, first * 1.5**polls)


@step_handler("addons", "prune_packs")
def prune_packs(ctx: StepContext) -> dict:
    """Delete the objects of packs the cluster's profile no longer has, then their inventories (in pull
    mode the agent does, and the step waits for its report of the generation)."""
    if ctx.spec.pulled:
        _agent_report(ctx)
        return {"prunedBy": AGENT_MANAGER}
    with kube(ctx) as client:
        removed = remove_packs(client, {layer.pack for layer in ctx.spec.layers})
    for pack, deleted in removed.items():
        ctx.event("info", "PackRemoved", f"{pack}: removed from the profile, {len(deleted)} objects deleted",
                  {"pack": pack, "deleted": deleted})  # fmt: skip
    return {"removed": removed}
