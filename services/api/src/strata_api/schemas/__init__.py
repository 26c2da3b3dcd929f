"""Request and response schemas of the HTTP API (camelCase JSON); the OpenAPI document is built from them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from strata_common.clouds.addresses import address_pool
from strata_common.model.cluster import AGENT_TIMEOUT_SECONDS, PULL, PUSH
from strata_common.packs.semver import SEMVER
from strata_common.schemas import Pattern
from strata_common.schemas.packs import CLOUDS, LAYERS, NAME

UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
DNS_LABEL = Pattern(
    r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", error="must be a DNS label: lowercase letters, digits and '-', up to 63"
)
ROLES = ("controlPlane", "worker")


class Request(Schema):
    class Meta:
        unknown = RAISE


class Response(Schema):
    class Meta:
        ordered = True


# ---- errors -----------------------------------------------------------------------------------


class ErrorBody(Response):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class ErrorResponse(Response):
    error = fields.Nested(ErrorBody, required=True)


# ---- packs and registries ---------------------------------------------------------------------


class PackSummary(Response):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    version = fields.String(required=True)
    layer = fields.String(required=True, validate=validate.OneOf(LAYERS))
    displayName = fields.String(required=True)
    cloudTypes = fields.List(fields.String(), required=True)
    digest = fields.String(required=True)
    registry = fields.String(required=True)


class PackDetail(PackSummary):
    description = fields.String(required=True)
    constraints = fields.Dict(required=True)
    kubernetesVersions = fields.Dict(allow_none=True)
    os = fields.Dict(allow_none=True)
    kubernetes = fields.Dict(allow_none=True)
    values = fields.String(required=True)
    manifests = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    roleFiles = fields.List(fields.String(), required=True)


class PackList(Response):
    items = fields.List(fields.Nested(PackSummary), required=True)


class RegistryCreate(Request):
    name = fields.String(required=True, validate=DNS_LABEL)
    source = fields.String(
        required=True,
        validate=[
            validate.Length(max=2048),
            Pattern(r"^(/|https?://)[^\n]*$", error="must be an absolute folder path or an http(s) URL"),
        ],
    )


class SyncFailure(Response):
    pack = fields.String(required=True)
    reason = fields.String(required=True)


class SyncReport(Response):
    loaded = fields.List(fields.String(), required=True)
    unchanged = fields.List(fields.String(), required=True)
    failed = fields.List(fields.Nested(SyncFailure), required=True)


class RegistryView(Response):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    source = fields.String(required=True)
    public = fields.Boolean(required=True)
    lastSyncedAt = fields.DateTime(allow_none=True)
    lastSync = fields.Dict(required=True)
    packCount = fields.Integer(required=True)


class RegistryList(Response):
    items = fields.List(fields.Nested(RegistryView), required=True)


# ---- profiles ---------------------------------------------------------------------------------


class LayerInput(Request):
    pack = fields.String(required=True, validate=NAME)
    version = fields.String(
        required=True, validate=[validate.Length(max=64), Pattern(SEMVER, error="must be a semantic version x.y.z")]
    )
    values = fields.String(load_default="", validate=validate.Length(max=256 * 1024))


class ProfileCreate(Request):
    name = fields.String(required=True, validate=DNS_LABEL)
    description = fields.String(load_default="", validate=validate.Length(max=1024))
    layers = fields.List(fields.Nested(LayerInput), required=True, validate=validate.Length(min=1, max=50))


class ProfileUpdate(Request):
    description = fields.String(validate=validate.Length(max=1024))
    layers = fields.List(fields.Nested(LayerInput), required=True, validate=validate.Length(min=1, max=50))


class LayerView(Response):
    pack = fields.String(required=True)
    version = fields.String(required=True)
    layer = fields.String(required=True)
    packId = fields.String(required=True)
    digest = fields.String(required=True)
    values = fields.String(required=True)


class RevisionView(Response):
    profileId = fields.UUID(required=True)
    revision = fields.Integer(required=True)
    layers = fields.List(fields.Nested(LayerView), required=True)
    createdAt = fields.DateTime(required=True)


class ProfileView(Response):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    revision = fields.Integer(required=True)
    layers = fields.List(fields.Nested(LayerView), required=True)
    createdAt = fields.DateTime(required=True)
    updatedAt = fields.DateTime(required=True)


class ProfileList(Response):
    items = fields.List(fields.Nested(ProfileView), required=True)


# ---- cloud accounts ---------------------------------------------------------------------------

_CLOUD_FIELDS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    # cloud: (required config keys, alternative sets of required credential keys)
    "local": ((), ((),)),
    "aws": ((), (("accessKeyId", "secretAccessKey"), ("roleArn",))),
    "azure": (("tenantId", "subscriptionId"), (("clientId", "clientSecret"),)),
    "vsphere": (("host", "datacenter"), (("username", "password"),)),
}
_ALLOWED_CONFIG = {
    "local": set(),
    "aws": {"defaultRegion", "regions", "endpointUrl", "kubernetes", "builderSsh"},
    "azure": {
        "tenantId",
        "subscriptionId",
        "defaultRegion",
        "regions",
        "endpointUrl",
        "authorityHost",
        "caBundle",
        "kubernetes",
        "builderSsh",
    },
    "vsphere": {
        "host",
        "datacenter",
        "thumbprint",
        "caBundle",
        "insecure",
        "network",
        "portGroups",
        "vipPool",
        "kubernetes",
        "builderSsh",
    },
}
_ALLOWED_CREDENTIALS = {
    "local": set(),
    "aws": {"accessKeyId", "secretAccessKey", "sessionToken", "roleArn", "externalId"},
    "azure": {"clientId", "clientSecret"},
    "vsphere": {"username", "password"},
}


def _stand_in_errors(config: dict[str, Any]) -> dict[str, list[str]]:
    """The settings that point an account at a stand-in for its cloud (moto, vcsim, ...)."""
    errors = {}
    url = config.get("endpointUrl")
    if url is not None and not (isinstance(url, str) and urlsplit(url).scheme in ("http", "https")
                                and urlsplit(url).hostname):  # fmt: skip
        errors["endpointUrl"] = ["must be an http(s) URL, e.g. http://127.0.0.1:5000"]
    if config.get("kubernetes", "real") not in ("real", "emulated"):
        errors["kubernetes"] = ["must be 'real' or 'emulated'"]
    ssh = config.get("builderSsh")
    if ssh is not None and not (isinstance(ssh, dict) and isinstance(ssh.get("address"), str)
                                and ssh["address"].rpartition(":")[2].isdigit() and isinstance(ssh.get("root"), str)
                                and set(ssh) <= {"address", "user", "root", "python"}):  # fmt: skip
        errors["builderSsh"] = ['must be {"address": "host:port", "root": folder, "user" and "python" (optional)}']
    regions = config.get("regions")
    if regions is not None and not (isinstance(regions, list) and all(isinstance(r, str) for r in regions)):
        errors["regions"] = ["must be a list of region names"]
    return errors


def _vsphere_errors(config: dict[str, Any]) -> dict[str, list[str]]:
    errors = {}
    if not (config.get("thumbprint") or config.get("caBundle") or config.get("insecure") is True):
        errors["thumbprint"] = ["required unless caBundle is given or insecure is true"]
    groups = config.get("portGroups")
    if groups is not None and not (isinstance(groups, dict) and set(groups) <= {"control-plane", "workers"}
                                   and all(isinstance(v, str) and v for v in groups.values())):  # fmt: skip
        errors["portGroups"] = ['must be {"control-plane": port group, "workers": port group}']
    pool = config.get("vipPool")
    if pool is not None and not _address_pool(pool):
        errors["vipPool"] = ["must be first-last addresses (10.0.0.100-10.0.0.120) or a CIDR"]
    return errors


def _azure_errors(config: dict[str, Any]) -> dict[str, list[str]]:
    errors = {}
    for key in ("tenantId", "subscriptionId"):
        value = config.get(key)
        if value and not (isinstance(value, str) and UUID_TEXT.fullmatch(value)):
            errors[key] = ["must be a GUID (00000000-0000-0000-0000-000000000000)"]
    host = config.get("authorityHost")
    if host is not None and not (
        isinstance(host, str) and urlsplit(host).scheme == "https" and urlsplit(host).hostname
    ):
        errors["authorityHost"] = ["must be an https URL, e.g. https://login.microsoftonline.us"]
    bundle = config.get("caBundle")
    if bundle is not None and not (isinstance(bundle, str) and "-----BEGIN CERTIFICATE-----" in bundle):
        errors["caBundle"] = ["must be PEM certificates"]
    return errors


def _address_pool(pool: Any) -> bool:
    if not isinstance(pool, str):
        return False
    try:
        address_pool(pool)
    except ValueError:
        return False
    return True


class CloudAccountCreate(Request):
    name = fields.String(required=True, validate=DNS_LABEL)
    cloud = fields.String(required=True, validate=validate.OneOf(CLOUDS))
    config = fields.Dict(keys=fields.String(), load_default=dict)
    credentials = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)

    @validates_schema
    def per_cloud(self, data: dict[str, Any], **_: Any) -> None:
        cloud = data.get("cloud")
        if cloud not in _CLOUD_FIELDS:
            return
        config, credentials = data.get("config", {}), data.get("credentials", {})
        errors: dict[str, Any] = {}
        required_config, credential_sets = _CLOUD_FIELDS[cloud]
        for key in sorted(set(config) - _ALLOWED_CONFIG[cloud]):
            errors.setdefault("config", {})[key] = [f"not a {cloud} setting"]
        for key in required_config:
            if not config.get(key):
                errors.setdefault("config", {})[key] = [f"required for a {cloud} account"]
        for key in sorted(set(credentials) - _ALLOWED_CREDENTIALS[cloud]):
            errors.setdefault("credentials", {})[key] = [f"not a {cloud} credential"]
        if not any(all(credentials.get(k) for k in keys) for keys in credential_sets):
            missing = next(k for k in credential_sets[0] if not credentials.get(k))
            hint = " or ".join("+".join(keys) for keys in credential_sets)
            errors.setdefault("credentials", {})[missing] = [f"required for a {cloud} account ({hint})"]
        errors.setdefault("config", {}).update(_stand_in_errors(config))
        if not errors["config"]:
            del errors["config"]
        if cloud in ("vsphere", "azure"):
            errors.setdefault("config", {}).update(_vsphere_errors(config) if cloud == "vsphere" else
                                                   _azure_errors(config))  # fmt: skip
            if not errors["config"]:
                del errors["config"]
        if errors:
            raise ValidationError(errors)


class CloudAccountView(Response):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    cloud = fields.String(required=True)
    config = fields.Dict(required=True)
    hasCredentials = fields.Boolean(required=True)
    createdAt = fields.DateTime(required=True)


class CloudAccountList(Response):
    items = fields.List(fields.Nested(CloudAccountView), required=True)


class ZoneView(Response):
    name = fields.String(required=True)
    hosts = fields.Integer()
    cpuCores = fields.Integer()
    cpuMhz = fields.Integer()
    memoryMiB = fields.Integer()
    availableCpuMhz = fields.Integer()
    availableMemoryMiB = fields.Integer()


class RegionView(Response):
    name = fields.String(required=True)
    zones = fields.List(fields.Nested(ZoneView), required=True)


class InstanceTypeView(Response):
    name = fields.String(required=True)
    cpu = fields.Integer(required=True)
    memoryMiB = fields.Integer(required=True)


class CatalogView(Response):
    cloud = fields.String(required=True)
    regions = fields.List(fields.Nested(RegionView), required=True)
    instanceTypes = fields.List(fields.Nested(InstanceTypeView), required=True)


# ---- clusters ---------------------------------------------------------------------------------


class ProfileRef(Request):
    id = fields.UUID(required=True)
    revision = fields.Integer(validate=validate.Range(min=1))


class CloudPlacement(Request):
    region = fields.String(required=True, validate=validate.Length(min=1, max=64))


class RolloutInput(Request):
    maxSurge = fields.Integer(load_default=1, validate=validate.Range(min=0, max=100))
    maxUnavailable = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100))

    @validates_schema
    def progress(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("maxSurge") == 0 and data.get("maxUnavailable") == 0:
            raise ValidationError("maxSurge and maxUnavailable cannot both be 0: the rollout could not progress")


class Share(fields.Field):
    """A count (3) or a percentage ("40%") of a pool's nodes."""

    PERCENT = re.compile(r"^(100|[1-9]?[0-9])%$")
    SCHEMA = {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 1000},
                        {"type": "string", "pattern": PERCENT.pattern}]}  # fmt: skip

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata=self.SCHEMA, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1000:
            return value
        if isinstance(value, str) and self.PERCENT.fullmatch(value):
            return value
        raise ValidationError('must be a count of nodes (0 to 1000) or a percentage such as "40%"')


class PoolInput(Request):
    name = fields.String(required=True, validate=DNS_LABEL)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    count = fields.Integer(required=True, validate=validate.Range(min=0, max=1000))
    instanceType = fields.String(required=True, validate=validate.Length(min=1, max=64))
    zones = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)), required=True, validate=validate.Length(min=1)
    )
    diskGiB = fields.Integer(load_default=40, validate=validate.Range(min=10, max=16384))
    rollout = fields.Nested(RolloutInput)
    drainTimeoutSeconds = fields.Float(validate=validate.Range(min=0, max=86400, min_inclusive=False))
    unhealthyTimeoutSeconds = fields.Float(validate=validate.Range(min=0, max=86400, min_inclusive=False))
    maxUnhealthy = Share()
    rebalance = fields.Boolean()


def _pools_shape(pools: list[dict[str, Any]]) -> None:
    """Exactly one control-plane pool of 1, 3 or 5 nodes; pool names unique."""
    errors: dict[str, Any] = {}
    control = [i for i, p in enumerate(pools) if p["role"] == "controlPlane"]
    if len(control) != 1:
        errors["pools"] = [f"exactly one controlPlane pool is required (found {len(control)})"]
    elif pools[control[0]]["count"] not in (1, 3, 5):
        errors["pools"] = {control[0]: {"count": ["a control plane has 1, 3 or 5 nodes (etcd quorum)"]}}
    seen: set[str] = set()
    for i, pool in enumerate(pools):
        if pool["name"] in seen:
            errors.setdefault("pools", {})
            if isinstance(errors["pools"], dict):
                errors["pools"].setdefault(i, {})["name"] = [f"pool name {pool['name']!r} is used twice"]
        seen.add(pool["name"])
    if errors:
        raise ValidationError(errors)


class ManagementInput(Request):
    mode = fields.String(validate=validate.OneOf((PUSH, PULL)),
                         metadata={"description": f"{PUSH} (the default): the add-ons service applies the packs "
                                   f"through the cluster's API; {PULL}: the cluster's agent pulls and applies "
                                   "them"})  # fmt: skip
    agentTimeout = fields.Float(validate=validate.Range(min=10, max=86400),
                                metadata={"description": "seconds without a report from the agent before "
                                          f"AgentConnected turns False (pull mode; {AGENT_TIMEOUT_SECONDS:.0f} "
                                          "by default)"})  # fmt: skip


class ClusterCreate(Request):
    name = fields.String(required=True, validate=DNS_LABEL)
    profile = fields.Nested(ProfileRef, required=True)
    cloudAccount = fields.UUID(required=True)
    cloud = fields.Nested(CloudPlacement, required=True)
    pools = fields.List(fields.Nested(PoolInput), required=True, validate=validate.Length(min=1, max=50))
    management = fields.Nested(ManagementInput)

    @validates_schema
    def pools_shape(self, data: dict[str, Any], **_: Any) -> None:
        _pools_shape(data.get("pools") or [])


class ClusterUpdate(Request):
    profile = fields.Nested(ProfileRef)
    pools = fields.List(fields.Nested(PoolInput), validate=validate.Length(min=1, max=50))
    paused = fields.Boolean()
    management = fields.Nested(ManagementInput)

    @validates_schema
    def changes_something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("give profile, pools, paused or management")
        if "pools" in data:
            _pools_shape(data["pools"])


class ConditionView(Response):
    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("True", "False", "Unknown")))
    reason = fields.String(required=True)
    message = fields.String(required=True)
    errorClass = fields.String(allow_none=True)
    observedGeneration = fields.Integer(required=True)
    lastTransitionTime = fields.String(required=True)


class ConditionList(Response):
    items = fields.List(fields.Nested(ConditionView), required=True)


class PoolView(Response):
    name = fields.String(required=True)
    role = fields.String(required=True)
    count = fields.Integer(required=True)
    instanceType = fields.String(required=True)
    zones = fields.List(fields.String(), required=True)
    diskGiB = fields.Integer(required=True)
    rollout = fields.Dict()
    drainTimeoutSeconds = fields.Float()
    unhealthyTimeoutSeconds = fields.Float()
    maxUnhealthy = fields.Raw()
    rebalance = fields.Boolean()


class MachineView(Response):
    name = fields.String(required=True)
    pool = fields.String(required=True)
    role = fields.String(required=True)
    zone = fields.String(required=True)
    instanceType = fields.String(required=True)
    phase = fields.String(required=True)
    templateHash = fields.String(required=True)
    instanceId = fields.String(allow_none=True, required=True)
    nodeName = fields.String(allow_none=True, required=True)
    retireReason = fields.String(allow_none=True, required=True)
    generation = fields.Integer(required=True)
    createdAt = fields.DateTime(required=True)
    readyAt = fields.DateTime(allow_none=True, required=True)
    deletedAt = fields.DateTime(allow_none=True, required=True)


class MachineList(Response):
    items = fields.List(fields.Nested(MachineView), required=True)


class ManagementView(Response):
    mode = fields.String(required=True)
    agentTimeout = fields.Float(required=True)
    lastAgentReport = fields.DateTime(allow_none=True, required=True,
                                      metadata={"description": "when the agent last reported (pull mode)"})  # fmt: skip


class ClusterView(Response):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    phase = fields.String(required=True)
    generation = fields.Integer(required=True)
    profile = fields.Dict(required=True)
    cloudAccount = fields.UUID(required=True)
    cloud = fields.Dict(required=True)
    pools = fields.List(fields.Nested(PoolView), required=True)
    paused = fields.Boolean(required=True)
    management = fields.Nested(ManagementView, required=True)
    conditions = fields.List(fields.Nested(ConditionView), required=True)
    createdAt = fields.DateTime(required=True)
    updatedAt = fields.DateTime(required=True)


class ClusterList(Response):
    items = fields.List(fields.Nested(ClusterView), required=True)
    nextCursor = fields.String(allow_none=True, required=True)


class EventView(Response):
    id = fields.Integer(required=True)
    time = fields.String(required=True)
    level = fields.String(required=True)
    source = fields.String(required=True)
    reason = fields.String(required=True)
    message = fields.String(required=True)
    data = fields.Dict(required=True)
    stepId = fields.Integer(allow_none=True)


class EventList(Response):
    items = fields.List(fields.Nested(EventView), required=True)
    nextAfter = fields.Integer(required=True)


class StepList(Response):
    items = fields.List(fields.Dict(), required=True)


class KubeconfigView(Response):
    endpoint = fields.String(required=True)
    kubeconfig = fields.String(required=True)


class WhoAmI(Response):
    project = fields.String(required=True)
    projectId = fields.UUID(required=True)
    role = fields.String(required=True)


class Applying(Response):
    generation = fields.Integer(required=True)
    steps = fields.List(fields.String(), required=True)


class PackValuesView(Response):
    pack = fields.String(required=True)
    version = fields.String(required=True)
    layer = fields.String(required=True)
    values = fields.Dict(required=True, metadata={"description": "the effective values"})
    origins = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "dotted path of each value -> pack, profile or override"},
    )
    override = fields.Dict(required=True, metadata={"description": "the cluster's override ({} when none)"})
    applying = fields.Nested(Applying, allow_none=True, metadata={"description": "the plan that applies it"})


# ---- update notifications ---------------------------------------------------------------------


class UpdateRevisions(Response):
    id = fields.String(required=True)
    fromRevision = fields.Integer(required=True)
    toRevision = fields.Integer(required=True)


class ValueChangeView(Response):
    path = fields.String(required=True)
    change = fields.String(required=True, validate=validate.OneOf(["added", "removed", "changed"]))
    old = fields.Raw(allow_none=True)
    new = fields.Raw(allow_none=True)


class LayerChangeView(Response):
    pack = fields.String(required=True)
    layer = fields.String(required=True)
    change = fields.String(required=True, validate=validate.OneOf(["added", "removed", "changed"]))
    fromVersion = fields.String(required=True, allow_none=True)
    toVersion = fields.String(required=True, allow_none=True)
    values = fields.List(fields.Nested(ValueChangeView), required=True)
    replacesNodes = fields.Boolean(required=True, metadata={"description": "the change rebuilds the nodes"})


class ConflictView(Response):
    pack = fields.String(required=True)
    path = fields.String(required=True, metadata={"description": "dotted path of the overridden value"})
    base = fields.Raw(allow_none=True, metadata={"description": "the installed revision's value (absent: none)"})
    profile = fields.Raw(allow_none=True, metadata={"description": "the new revision's value (absent: removed)"})
    override = fields.Raw(allow_none=True, metadata={"description": "the cluster's override"})
    resolution = fields.Dict(required=True, allow_none=True)


class UpdateView(Response):
    number = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["pending", "superseded", "applied"]))
    profile = fields.Nested(UpdateRevisions, required=True)
    changes = fields.List(fields.Nested(LayerChangeView), required=True,
                          metadata={"description": "every change between the two revisions, per pack"})  # fmt: skip
    replacesNodes = fields.Integer(required=True, allow_none=True, metadata={
        "description": "pending: nodes the apply would replace; applied: those it replaced; null: not known "
                       "(superseded, or applied by a PATCH of the profile)"})  # fmt: skip
    conflicts = fields.List(fields.Nested(ConflictView), required=True,
                            metadata={"description": "applied: as resolved when it was applied"})  # fmt: skip
    unresolved = fields.Integer(required=True)
    appliedGeneration = fields.Integer(required=True, allow_none=True,
                                       metadata={"description": "the generation its apply made"})  # fmt: skip
    createdAt = fields.String(required=True)
    closedAt = fields.String(required=True, allow_none=True)


class UpdateList(Response):
    items = fields.List(fields.Nested(UpdateView), required=True)


class ResolutionInput(Request):
    pack = fields.String(required=True, validate=validate.Length(1, 128))
    path = fields.String(required=True, validate=validate.Length(1, 1024))
    action = fields.String(required=True, validate=validate.OneOf(["keep-override", "take-profile", "value"]))
    value = fields.Raw(allow_none=True, metadata={"description": "with action value: the value to keep"})


class ResolutionsInput(Request):
    resolutions = fields.List(fields.Nested(ResolutionInput), required=True, validate=validate.Length(1, 1000))


class ClusterRef(Response):
    id = fields.String(required=True)
    name = fields.String(required=True)


class FleetUpdateView(Response):
    cluster = fields.Nested(ClusterRef, required=True)
    number = fields.Integer(required=True)
    profile = fields.Nested(UpdateRevisions, required=True)
    createdAt = fields.String(required=True)


class FleetUpdateList(Response):
    items = fields.List(fields.Nested(FleetUpdateView), required=True)


# ---- timeline -----------------------------------------------------------------------------------


class TimelineStep(Response):
    name = fields.String(required=True)
    milestone = fields.String(required=True, allow_none=True)
    dependsOn = fields.List(fields.String(), required=True)
    status = fields.String(required=True)
    attempts = fields.Integer(required=True)
    dueAt = fields.String(required=True, metadata={"description": "when it first became due"})
    startedAt = fields.String(required=True, allow_none=True)
    finishedAt = fields.String(required=True, allow_none=True)
    offsetSeconds = fields.Float(required=True, metadata={"description": "due, seconds after the generation began"})
    seconds = fields.Float(required=True, allow_none=True, metadata={"description": "due to finished"})
    queuedSeconds = fields.Float(required=True, metadata={"description": "due but not claimed"})
    workingSeconds = fields.Float(required=True, metadata={"description": "its handler ran"})
    waitingSeconds = fields.Float(required=True, metadata={"description": "requeued for the cloud, or backing off"})


class TimelineMilestone(Response):
    milestone = fields.String(required=True)
    title = fields.String(required=True)
    offsetSeconds = fields.Float(required=True)
    seconds = fields.Float(required=True, allow_none=True)


class CriticalPath(Response):
    steps = fields.List(fields.String(), required=True)
    queuedSeconds = fields.Float(required=True)
    workingSeconds = fields.Float(required=True)
    waitingSeconds = fields.Float(required=True)


class TimelineView(Response):
    cluster = fields.String(required=True)
    generation = fields.Integer(required=True)
    startedAt = fields.String(required=True)
    finishedAt = fields.String(required=True, allow_none=True)
    seconds = fields.Float(required=True, allow_none=True)
    steps = fields.List(fields.Nested(TimelineStep), required=True)
    milestones = fields.List(fields.Nested(TimelineMilestone), required=True)
    criticalPath = fields.Nested(CriticalPath, required=True)


# ---- dry runs -----------------------------------------------------------------------------------


class PlannedStep(Response):
    name = fields.String(required=True)
    queue = fields.String(required=True)
    milestone = fields.String(required=True, allow_none=True)
    dependsOn = fields.List(fields.String(), required=True)
    cloudWaits = fields.List(
        fields.String(), required=True, metadata={"description": "resources it waits for the cloud to make ready"}
    )
    expectedSeconds = fields.Float(required=True, metadata={"description": "cloud waits plus Strata's own time"})


class PlannedMachine(Response):
    machine = fields.String(required=True)
    pool = fields.String(required=True)
    zone = fields.String(allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "why the plan retires it"})


class ExpectedDuration(Response):
    seconds = fields.Float(required=True, metadata={"description": "the longest path through the steps"})
    criticalPath = fields.List(fields.String(), required=True)
    basis = fields.String(required=True)


class PlannedObject(Response):
    apiVersion = fields.String(required=True)
    kind = fields.String(required=True)
    namespace = fields.String(required=True, allow_none=True)
    name = fields.String(required=True)
    fields_ = fields.List(
        fields.Dict(),
        attribute="fields",
        data_key="fields",
        metadata={"description": "changed fields: path, change, old and new (scalars)"},
    )
    takesBack = fields.List(fields.String(), metadata={"description": "fields another manager changed"})


class PlannedPack(Response):
    pack = fields.String(required=True)
    version = fields.String(required=True)
    objects = fields.Integer(required=True, metadata={"description": "objects the pack declares"})
    create = fields.List(fields.Nested(PlannedObject), required=True)
    change = fields.List(fields.Nested(PlannedObject), required=True)
    prune = fields.List(fields.Nested(PlannedObject), required=True)
    unchanged = fields.Integer(required=True, allow_none=True)


class PlannedObjects(Response):
    checked = fields.Boolean(required=True, metadata={"description": "false: the cluster's API did not answer"})
    message = fields.String(required=True)
    packs = fields.List(fields.Nested(PlannedPack), required=True)
    problems = fields.List(fields.String(), required=True, metadata={"description": "packs that do not render"})


class PlanView(Response):
    dryRun = fields.Boolean(required=True)
    generation = fields.Integer(required=True, metadata={"description": "the generation the change would make"})
    steps = fields.List(fields.Nested(PlannedStep), required=True, metadata={"description": "in the order created"})
    adds = fields.List(fields.Nested(PlannedMachine), required=True)
    retires = fields.List(fields.Nested(PlannedMachine), required=True)
    expected = fields.Nested(ExpectedDuration, required=True)
    kubernetes = fields.Nested(
        PlannedObjects, required=True, metadata={"description": "what the pack steps would do to the cluster's objects"}
    )
