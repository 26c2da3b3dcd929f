"""The pack manifest (pack.json): what every pack declares, and what each layer adds."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from strata_common.packs import semver
from strata_common.schemas import Pattern

LAYERS = ("os", "k8s", "cni", "csi", "addon")
CLOUDS = ("local", "aws", "azure", "vsphere")
NAME = Pattern(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$", error="must be lowercase letters, digits, '-' or '.'")


def _semver(value: str) -> None:
    if not semver.is_semver(value):
        raise ValidationError("must be a semantic version MAJOR.MINOR.PATCH")


def _bound(value: str) -> None:
    if not semver.is_bound(value):
        raise ValidationError("must be a version or a prefix of one, e.g. 1.31 or 1.31.2")


class Strict(Schema):
    class Meta:
        unknown = RAISE


class DependencySchema(Strict):
    pack = fields.String(required=True, validate=NAME)
    minVersion = fields.String(validate=_bound)
    maxVersion = fields.String(validate=_bound)


class ResourcesSchema(Strict):
    minCpu = fields.Integer(validate=validate.Range(min=1))
    minMemoryMiB = fields.Integer(validate=validate.Range(min=1))
    minDiskGiB = fields.Integer(validate=validate.Range(min=1))


class ConstraintsSchema(Strict):
    dependencies = fields.List(fields.Nested(DependencySchema), load_default=list)
    resources = fields.Nested(ResourcesSchema, load_default=dict)


class VersionRangeSchema(Strict):
    minVersion = fields.String(validate=_bound)
    maxVersion = fields.String(validate=_bound)


class AwsImageSchema(Strict):
    """A pinned AMI (`imageId`), or the newest AMI of `imageOwner` whose name matches `imageName`."""

    imageId = fields.String(validate=Pattern(r"^ami-[0-9a-f]{8,17}$", error="must be ami-…"))
    imageOwner = fields.String(validate=Pattern(r"^([0-9]{12}|amazon|self)$", error="must be an account id"))
    imageName = fields.String(validate=validate.Length(min=1, max=128))
    sshUser = fields.String(validate=Pattern(r"^[a-z_][a-z0-9_-]{0,31}$", error="must be a user name"))

    @validates_schema
    def pinned_or_named(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("imageId") and not (data.get("imageOwner") and data.get("imageName")):
            raise ValidationError("needs imageId, or imageOwner and imageName")


class AzureImageSchema(Strict):
    imagePublisher = fields.String()
    imageOffer = fields.String()
    imageSKU = fields.String()
    imageVersion = fields.String(load_default="latest")
    galleryImageId = fields.String()

    @validates_schema
    def marketplace_or_gallery(self, data: dict[str, Any], **_: Any) -> None:
        marketplace = all(data.get(k) for k in ("imagePublisher", "imageOffer", "imageSKU"))
        if not marketplace and not data.get("galleryImageId"):
            raise ValidationError("needs imagePublisher, imageOffer and imageSKU, or galleryImageId")


class VsphereImageSchema(Strict):
    template = fields.String()
    ova = fields.String()
    folder = fields.String(load_default="")

    @validates_schema
    def template_or_ova(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("template") and not data.get("ova"):
            raise ValidationError("needs a template or an ova name")


class LocalImageSchema(Strict):
    image = fields.String(required=True, validate=NAME)


class ImagesSchema(Strict):
    aws = fields.Dict(
        keys=fields.String(validate=Pattern(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")), values=fields.Nested(AwsImageSchema)
    )
    azure = fields.Nested(AzureImageSchema)
    vsphere = fields.Nested(VsphereImageSchema)
    local = fields.Nested(LocalImageSchema)


class ScanSchema(Strict):
    """How the image builder scans the pack's images (SCAP Security Guide content) and what they must pass."""

    datastream = fields.String(
        validate=Pattern(r"^ssg-[a-z0-9]+-ds\.xml$"),
        metadata={"description": "default: the distribution's (ssg-ubuntu2204-ds.xml, ...)"},
    )
    profile = fields.String(
        validate=Pattern(r"^xccdf_[A-Za-z0-9_.-]+$"),
        metadata={"description": "default: the CIS Level 1 Server profile"},
    )
    minScore = fields.Float(validate=validate.Range(0, 100))
    mustPass = fields.List(
        fields.String(validate=Pattern(r"^[A-Za-z0-9_.-]+$")),
        load_default=list,
        metadata={"description": "rule ids (with or without xccdf_org.ssgproject.content_rule_)"},
    )


class OsSchema(Strict):
    family = fields.String(
        required=True, validate=validate.OneOf(("ubuntu", "rhel", "centos", "rocky", "flatcar", "custom"))
    )
    version = fields.String(required=True)
    images = fields.Nested(ImagesSchema, required=True)
    roles = fields.List(fields.String(validate=Pattern(r"^[A-Za-z0-9_.-]+$")), load_default=list)
    skipK8sInstall = fields.Boolean(load_default=False)
    scan = fields.Nested(ScanSchema)


class KubernetesSchema(Strict):
    version = fields.String(required=True, validate=_semver)
    kubeadm = fields.Dict(load_default=dict)


class PackManifestSchema(Strict):
    """pack.json."""

    name = fields.String(required=True, validate=NAME)
    version = fields.String(required=True, validate=_semver)
    layer = fields.String(required=True, validate=validate.OneOf(LAYERS))
    displayName = fields.String(load_default="")
    description = fields.String(load_default="")
    cloudTypes = fields.List(
        fields.String(validate=validate.OneOf(CLOUDS)), required=True, validate=validate.Length(min=1)
    )
    constraints = fields.Nested(ConstraintsSchema, load_default=lambda: {"dependencies": [], "resources": {}})
    kubernetesVersions = fields.Nested(VersionRangeSchema)
    os = fields.Nested(OsSchema)
    kubernetes = fields.Nested(KubernetesSchema)

    @validates_schema
    def layer_fields(self, data: dict[str, Any], **_: Any) -> None:
        layer = data.get("layer")
        if layer == "os" and "os" not in data:
            raise ValidationError("an os pack needs an os section", "os")
        if layer == "k8s" and "kubernetes" not in data:
            raise ValidationError("a k8s pack needs a kubernetes section", "kubernetes")
        for section, owner in (("os", "os"), ("kubernetes", "k8s")):
            if section in data and layer != owner:
                raise ValidationError(f"only a {owner} pack has a {section} section", section)
        images = (data.get("os") or {}).get("images") or {}
        for cloud in data.get("cloudTypes", []):
            if layer == "os" and not images.get(cloud):
                raise ValidationError(f"no image reference for cloud {cloud!r}", "os.images")
