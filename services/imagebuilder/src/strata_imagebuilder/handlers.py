"""The image step (ImageReady): find the cluster's image by signature in its region, else copy it
from another region, else build it once per signature by running the OS pack's roles (and Strata's
Kubernetes-install role) with ansible-runner on a builder instance and scanning the result (CIS, with
OpenSCAP); or use the pack's image as it is when there is nothing to run on it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from strata_common.cloud_steps import cloud, layer, owner, record_status, wait_ready
from strata_common.clouds import registry
from strata_common.clouds.catalog import Catalog
from strata_common.clouds.driver import PENDING, READY, CloudDriver, LaunchSpec, Resource
from strata_common.engine.errors import USER_FIXABLE, Retry, StepError
from strata_common.engine.registry import step_handler
from strata_common.engine.runner import StepContext
from strata_imagebuilder import builds
from strata_imagebuilder.builder_access import BuilderKey, builder_key, placement
from strata_imagebuilder.playbooks import PlaybookFailed, TaskResult, run_roles
from strata_imagebuilder.scans import ScanReport, benchmark_for, record_scan, shortfall, stored_report
from strata_imagebuilder.signature import ImagePlan, plan_image

WAIT_FOR_BUILD = 1.0  # seconds between looks at another cluster's build of the same signature


def base_image(ctx: StepContext, driver: CloudDriver, os_pack: dict[str, Any], where: str) -> str:
    """The OS pack's out-of-the-box image in the region, as the cloud's driver resolves the pack's reference:
    one step at a time per account, region and reference, since a driver may import the image on its first
    use (vSphere's OVA) and two imports would make two."""
    cloud_type = ctx.spec.cloud_type
    reference = os_pack["os"]["images"].get(cloud_type)
    if not reference:
        raise StepError("ImageReferenceMissing",
                        f"pack {os_pack['name']}@{os_pack['version']} has no {cloud_type} image for {where}",
                        USER_FIXABLE)  # fmt: skip
    key = f"base-image:{ctx.spec.cloud_account}:{where}:{json.dumps(reference, sort_keys=True)}"
    with ctx.db.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
        return driver.catalog_image(where, reference)


def _catalog(cloud_type: str) -> Catalog:
    return registry.catalog(cloud_type) or Catalog()


def _builder_zone(ctx: StepContext, region: str) -> str:
    """Where a builder or scanner runs: the region's first zone, or the cluster's first on a cloud whose
    zones come from the account (vSphere's compute clusters)."""
    return (_catalog(ctx.spec.cloud_type).regions.get(region) or ctx.spec.zones() or [region])[0]


def _usable(images: list[Resource]) -> Resource | None:
    """An available image, else a pending one (worth waiting for), else none."""
    ranked = sorted(images, key=lambda image: image.state != READY)
    return next((image for image in ranked if image.state in (READY, PENDING)), None)


def _result(ctx: StepContext, driver: CloudDriver, image: Resource, plan: ImagePlan, source: str) -> dict:
    image = wait_ready(driver, image)
    _record(ctx, image.id, plan, source, image.state)
    return {"image": image.id, "source": source, "signature": plan.signature}


def _record(ctx: StepContext, image_id: str, plan: ImagePlan, source: str, state: str) -> None:
    """Remember the image for GET /v1/images, whose states are EC2's words (available, pending)."""
    name, version = plan.pack.split("@")
    labels = {"pack": name, "packVersion": version, "kubernetesVersion": plan.variables.get("kubernetes_version")}
    with ctx.db.connection() as conn:
        builds.record_image(conn, ctx.spec.cloud_account, ctx.spec.region, image_id, plan.signature, source,
                            "available" if state == READY else state, labels)  # fmt: skip


@step_handler("imagebuilder", "ensure_image")
def ensure_image(ctx: StepContext) -> dict:
    """The cluster's image, recorded in its status for the node steps."""
    found = _resolve(ctx)
    record_status(ctx, image=found["image"])
    return found


def _resolve(ctx: StepContext) -> dict:
    os_pack, values = layer(ctx, "os")
    kubernetes, _ = layer(ctx, "k8s")
    plan = plan_image(os_pack, values, kubernetes["kubernetes"]["version"])
    cloud_type, where = ctx.spec.cloud_type, ctx.spec.region
    signed = {"strata:signature": plan.signature}
    with cloud(ctx) as driver:
        if not plan.build:
            base = base_image(ctx, driver, os_pack, where)
            ctx.event("info", "ImageAsIs", f"{plan.reason}: {base}")
            _scan_as_is(ctx, driver, plan, os_pack, base)
            _record(ctx, base, plan, "catalog", READY)
            return {"image": base, "source": "catalog", "signature": plan.signature}
        found = _usable(driver.find_images(where, signed))
        own_build = (ctx.step.output or {}).get("buildToken")
        if found and own_build and found.tags.get("strata:build-token") == own_build:
            return _build(ctx, driver, plan, os_pack)  # this step's build, its image pending last time
        if found:
            return _result(ctx, driver, found, plan, found.tags.get("strata:source", "built"))
        for other in sorted(set(_catalog(cloud_type).regions) - {where}):
            source = next((i for i in driver.find_images(other, signed) if i.state == READY), None)
            if source:
                ctx.event("info", "ImageCopy", f"copying image {source.id} ({plan.signature[:12]}) from {other}")
                copy = driver.copy_image(source.id, where, {**signed, "strata:source": "copied"},
                                         f"copy:{plan.signature}:{where}")  # fmt: skip
                return _result(ctx, driver, copy, plan, "copied")
        return _build(ctx, driver, plan, os_pack)


def _scan_as_is(ctx: StepContext, driver: CloudDriver, plan: ImagePlan, os_pack: dict[str, Any], base: str) -> None:
    """An out-of-the-box image is scanned on its first use: an instance of it is launched (one per step, the
    same one again when the step waits for it or runs again), only the scan runs on it, the report is kept,
    then the instance is terminated; the pack's policy is checked against the kept report at every use."""
    account, where = ctx.spec.cloud_account, ctx.spec.region
    benchmark = benchmark_for(os_pack)
    with ctx.db.connection() as conn:
        kept = stored_report(conn, account, plan.signature)
    token = f"scan:{plan.signature}:{ctx.step.id}"
    scan_tags = {"strata:scan": plan.signature[:63], "strata:cluster": str(ctx.step.cluster_id)}
    for stale in driver.list_owned(scan_tags):  # this cluster's scanners of earlier steps, or of a finished scan
        if stale.kind == "instance" and (kept is not None or stale.tags.get("strata:scan-token") != token):
            driver.delete(stale.id)
    if kept is None and benchmark is None:
        _report(ctx, plan, os_pack, None)
        return
    if kept is None:
        zone = _builder_zone(ctx, where)
        place, key = placement(ctx, driver, zone), builder_key(ctx.settings.secret_key, token)
        tags = {**owner(ctx), **scan_tags, "strata:scan-token": token, "strata:role": "image-scanner"}
        launch = LaunchSpec(where, zone, _catalog(ctx.spec.cloud_type).builder_type, base, "", tags, token,
                            place.subnet, place.security_groups, ssh_key=key.public)  # fmt: skip
        scanner = wait_ready(driver, driver.run_instance(launch))
        user = (os_pack["os"]["images"][ctx.spec.cloud_type] or {}).get("sshUser")
        try:
            kept = run_roles(scanner.id, driver.builder_connection(scanner, user), [], {}, {}, _on_task(ctx),
                             key.private, benchmark)  # fmt: skip
        except PlaybookFailed as failed:  # the scanner stays for the next run (the cluster's delete sweeps it)
            raise StepError("ImageScanFailed", f"scanning image {base}: {failed}") from None
        _report(ctx, plan, os_pack, kept)
        driver.delete(scanner.id)
    missing = shortfall(kept, benchmark) if benchmark and kept and kept.status == "scanned" else []
    if missing:
        raise StepError("ImageScanFailed", f"image {base} falls short of pack {plan.pack}'s scan policy: "
                        f"{'; '.join(missing)}", USER_FIXABLE)  # fmt: skip


def _report(ctx: StepContext, plan: ImagePlan, os_pack: dict[str, Any], report: ScanReport | None) -> list[str]:
    """Keep the image's scan report and say so in an event; what the pack's policy asks and the image lacks."""
    benchmark = benchmark_for(os_pack)
    if report is None:
        os_ = os_pack["os"]
        report = ScanReport("not-scanned", f"no benchmark content for {os_['family']} {os_['version']}")
    with ctx.db.connection() as conn:
        record_scan(conn, ctx.spec.cloud_account, plan.signature, report)
    ctx.event(
        "info",
        "ImageScanned",
        f"image {plan.signature[:12]}: {report.summary()}",
        {"signature": plan.signature, "status": report.status, "score": report.score, "totals": report.totals},
    )
    return shortfall(report, benchmark) if benchmark and report.status == "scanned" else []


def _build(ctx: StepContext, driver: CloudDriver, plan: ImagePlan, os_pack: dict[str, Any]) -> dict:
    account, where = ctx.spec.cloud_account, ctx.spec.region
    with ctx.db.connection() as conn:
        claim = builds.claim(conn, account, plan.signature, ctx.step.id, ctx.step.cluster_id)
    if claim.built:  # an earlier run of this step finished the build but not the step (e.g. the database went away)
        return _result(ctx, driver, driver.describe([claim.built])[0], plan, "built")
    if not claim.mine:
        raise Retry(WAIT_FOR_BUILD, f"waiting for cluster {claim.holder_cluster}'s build of {plan.signature[:12]}")
    attempt_token = f"build:{plan.signature}:{claim.attempt}"
    build_tags = {"strata:build": plan.signature[:63]}
    builder_tags = {**owner(ctx), **build_tags, "strata:build-attempt": str(claim.attempt),
                    "strata:role": "image-builder"}  # fmt: skip
    for stale in driver.list_owned(build_tags):  # builders of attempts that died midway
        if stale.kind == "instance" and stale.tags.get("strata:build-attempt") != str(claim.attempt):
            driver.delete(stale.id)
    if not ctx.step.output or ctx.step.output.get("buildToken") != attempt_token:
        ctx.event("info", "ImageBuild", f"building image {plan.signature[:12]} (attempt {claim.attempt}): "
                                        f"{plan.reason}")  # fmt: skip
        ctx.note(buildToken=attempt_token)
    zone = _builder_zone(ctx, where)
    base = base_image(ctx, driver, os_pack, where)
    place, key = placement(ctx, driver, zone), builder_key(ctx.settings.secret_key, attempt_token)
    launch = LaunchSpec(where, zone, _catalog(ctx.spec.cloud_type).builder_type, base, "", builder_tags, attempt_token,
                        place.subnet, place.security_groups, ssh_key=key.public)  # fmt: skip
    builder = driver.run_instance(launch)
    builder = wait_ready(driver, builder)
    image_tags = {"strata:signature": plan.signature, "strata:source": "built", "strata:managed-by": "strata",
                  "strata:build-token": attempt_token, "strata:pack": plan.pack,
                  "strata:kubernetes": plan.variables.get("kubernetes_version") or "none"}  # fmt: skip
    image = next(iter(driver.find_images(where, {"strata:build-token": attempt_token})), None)
    if image is None:
        user = (os_pack["os"]["images"][ctx.spec.cloud_type] or {}).get("sshUser")
        ctx.held()  # a run taken over does not customize the builder the other run customizes
        _customize(ctx, driver, builder, plan, account, driver.builder_connection(builder, user), key, os_pack)
        ctx.held()
        image = driver.create_image(builder.id, image_tags, f"{attempt_token}/image")
        _record(ctx, image.id, plan, "built", image.state)
    image = wait_ready(driver, image)
    driver.delete(builder.id)
    with ctx.db.connection() as conn:
        builds.finish(conn, account, plan.signature, ctx.step.id, image.id, None)
    _record(ctx, image.id, plan, "built", image.state)
    ctx.event("info", "ImageBuilt", f"image {image.id} built for {plan.signature[:12]}; builder {builder.id} removed")
    return {"image": image.id, "source": "built", "signature": plan.signature}


def _customize(ctx: StepContext, driver: CloudDriver, builder: Resource, plan: ImagePlan, account: str,
               connection: dict[str, str], key: BuilderKey, os_pack: dict[str, Any]) -> None:  # fmt: skip
    """Run the roles on the builder, then scan its root and keep the report; on failure, or an image short
    of the pack's scan policy, the builder is terminated and the step fails."""

    try:
        report = run_roles(builder.id, connection, plan.roles, plan.role_files, plan.variables, _on_task(ctx),
                           key.private, benchmark_for(os_pack))  # fmt: skip
    except PlaybookFailed as failed:
        _abandon(ctx, driver, builder, plan, account, str(failed))
        raise StepError("ImageCustomizationFailed", str(failed), USER_FIXABLE) from None
    missing = _report(ctx, plan, os_pack, report)
    if missing:
        message = f"the image falls short of pack {plan.pack}'s scan policy: {'; '.join(missing)}"
        _abandon(ctx, driver, builder, plan, account, message)
        raise StepError("ImageScanFailed", message, USER_FIXABLE)


def _on_task(ctx: StepContext) -> Callable[[TaskResult], None]:
    """Each Ansible task's result as an event of the cluster."""

    def on_task(result: TaskResult) -> None:
        failed = result.status in ("failed", "unreachable")
        message = f"{result.task} on {result.host}: {result.status}" + (f": {result.message}" if failed else "")
        level = "warning" if failed else "info"
        ctx.event(level, "AnsibleTask", message, {"task": result.task, "host": result.host, "status": result.status})

    return on_task


def _abandon(ctx: StepContext, driver: CloudDriver, builder: Resource, plan: ImagePlan, account: str,
             reason: str) -> None:  # fmt: skip
    """A build that cannot succeed: its builder terminated, the build recorded as failed (the next attempt
    starts afresh); not by a run taken over, whose playbook may have failed beside the other run's."""
    ctx.held()
    driver.delete(builder.id)
    with ctx.db.connection() as conn:
        builds.finish(conn, account, plan.signature, ctx.step.id, None, reason)
