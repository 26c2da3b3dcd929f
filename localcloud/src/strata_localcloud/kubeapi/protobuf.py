"""Decode Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf) into JSON objects.

Go clients, kubectl among them, send built-in objects as protobuf: the magic "k8s\\0", then a
runtime.Unknown holding apiVersion, kind and the object's message. The message types come from
the descriptors of Kubernetes 1.32's stable API groups (tools/extract_descriptors.py). Decoding
follows the JSON the API server would store: empty strings, lists, maps and objects are left out
(Go writes them to protobuf whether set or not); zeros and false are kept, since protobuf cannot
tell an explicit `replicas: 0` or `automountServiceAccountToken: false` from an unset field.
Time, IntOrString, Quantity and FieldsV1 take their JSON forms and bytes are base64. Go structs
embedded with `json:",inline"` are fields of their own in protobuf (Probe.handler,
Volume.volumeSource, ...); INLINE names them so their fields move up, as in JSON.
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_CORE_INLINE = ("Volume.volumeSource", "PersistentVolumeSpec.persistentVolumeSource", "Probe.handler",
                "EphemeralContainer.ephemeralContainerCommon", "ConfigMapEnvSource.localObjectReference",
                "ConfigMapKeySelector.localObjectReference", "ConfigMapProjection.localObjectReference",
                "ConfigMapVolumeSource.localObjectReference", "SecretEnvSource.localObjectReference",
                "SecretKeySelector.localObjectReference", "SecretProjection.localObjectReference")  # fmt: skip
INLINE = {
    *(f"k8s.io.api.core.v1.{name}" for name in _CORE_INLINE),
    "k8s.io.api.admissionregistration.v1.RuleWithOperations.rule",
    "k8s.io.api.admissionregistration.v1.NamedRuleWithOperations.ruleWithOperations",
    "k8s.io.api.networking.v1.IngressRule.ingressRuleValue",
}


class NotDecodable(ValueError):
    """The body is not a Kubernetes protobuf envelope of a type this server knows."""


@cache
def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    data = resources.files("strata_localcloud.kubeapi").joinpath("kubernetes-1.32.descriptors.gz").read_bytes()
    for file in descriptor_pb2.FileDescriptorSet.FromString(gzip.decompress(data)).file:
        pool.Add(file)
    return pool


def _message_class(full_name: str) -> type[Message]:
    try:
        return message_factory.GetMessageClass(_pool().FindMessageTypeByName(full_name))
    except KeyError:
        raise NotDecodable(f"no protobuf type {full_name}") from None


def _package(api_version: str) -> str:
    """The proto package of an API group version: apps/v1 -> k8s.io.api.apps.v1, v1 -> k8s.io.api.core.v1."""
    group, _, version = api_version.rpartition("/")
    return f"k8s.io.api.{group.split('.')[0] if group else 'core'}.{version}"


def decode(body: bytes) -> dict[str, Any]:
    if not body.startswith(MAGIC):
        raise NotDecodable("the body does not start with the Kubernetes protobuf magic number")
    try:
        envelope = _message_class("k8s.io.apimachinery.pkg.runtime.Unknown").FromString(body[len(MAGIC) :])
        api_version, kind = envelope.typeMeta.apiVersion, envelope.typeMeta.kind
        obj = _message_class(f"{_package(api_version)}.{kind}").FromString(envelope.raw)
    except DecodeError as err:
        raise NotDecodable(f"the body is not valid protobuf: {err}") from None
    return {"apiVersion": api_version, "kind": kind, **(to_json(obj) or {})}


def _time(msg: Message, micro: bool) -> str | None:
    if not msg.seconds and not msg.nanos:
        return None
    moment = datetime.fromtimestamp(msg.seconds + msg.nanos / 1e9, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _duration(nanos: int) -> str:
    """Go's time.Duration.String() for whole milliseconds and up (what API fields carry)."""
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = f"{rest / 1e9:.9f}".rstrip("0").rstrip(".")
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    return f"{sign}{minutes}m{seconds}s" if minutes else f"{sign}{seconds}s"


def _raw_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


_SPECIAL = {
    _META + "Time": lambda m: _time(m, micro=False),
    _META + "MicroTime": lambda m: _time(m, micro=True),
    _META + "Duration": lambda m: _duration(m.duration),
    _META + "FieldsV1": lambda m: _raw_json(m.Raw),
    "k8s.io.apimachinery.pkg.runtime.RawExtension": lambda m: _raw_json(m.raw),
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": lambda m: m.strVal if m.type == 1 else m.intVal,
    "k8s.io.apimachinery.pkg.api.resource.Quantity": lambda m: m.string or None,
}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_json(value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    return value


def to_json(msg: Message) -> Any:
    """A message as the API's JSON, empties left out."""
    special = _SPECIAL.get(msg.DESCRIPTOR.full_name)
    if special:
        return special(msg)
    out: dict[str, Any] = {}
    for field, value in msg.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name["value"]
            converted: Any = {k: _value(entry, v) for k, v in value.items()}
        elif field.is_repeated:
            converted = [_value(field, v) for v in value]
        else:
            converted = _value(field, value)
        if field.full_name in INLINE and isinstance(converted, dict):
            out.update(converted)
        elif not _empty(converted):
            out[field.name] = converted
    return out
