"""The Azure driver: CloudDriver over Azure Resource Manager (azure-mgmt-resource, -network, -compute).

Ownership: each network Strata makes gets a resource group of its own (a cluster's network: the cluster's
group), and everything carries the cluster's tags; a cluster's delete ends with its group, one
long-running delete that takes what is left in it. Idempotency: names are derived from the step's token,
a PUT by name is ARM's own idempotency, and the driver looks a name up before it creates, so a step killed
after its PUT was accepted finds that resource instead of making a second under another name.

Nothing waits on ARM's long-running operations except an image capture: a PUT answers at once with the
resource in a non-terminal provisioningState, and the step looks again when the driver expects it ready.

Security groups are Network Security Groups, one per role, with an Application Security Group of the same
name that the role's NICs join, so a rule naming another group is a rule from that group's ASG. Azure's
Standard Load Balancer passes clients' addresses through: a rule admitting the balancer's group is also,
once the balancer is made, a rule admitting what the balancer's group admits (`_through_balancer`).

Images are Compute Gallery image versions (a gallery per region, in the account's `strata-images` group,
one image definition for Linux generation-2 images), tagged with their signature; a copy to another region
is a replication of the same version there. An OS pack's own image is a marketplace URN or a gallery
image version id.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.core.polling import LROPoller
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from strata_azure.errors import cloud_error
from strata_common.clouds.addresses import subnet_cidr
from strata_common.clouds.driver import (
    CONFLICT,
    DELETING,
    FAILED,
    GONE,
    INVALID,
    NODE_ROLES,
    NOT_FOUND,
    PENDING,
    READY,
    CloudError,
    LaunchSpec,
    Resource,
    TagFilter,
    token_hash,
)
from strata_common.clouds.stand_in import builder_over_stand_in_ssh

TOKEN_TAG = "strata:token"
ADMIN_USER = "strata"  # the VMs' administrator; its key is the launch's, or one nobody holds
IMAGE_GROUP = "strata-images"
IMAGE_DEFINITION = "strata-linux-gen2"
STATES = {"Creating": PENDING, "Updating": PENDING, "Succeeded": READY, "Failed": FAILED, "Canceled": FAILED,
          "Deleting": DELETING, "Migrating": PENDING}  # fmt: skip
REPLICATION = {"Replicating": PENDING, "Completed": READY, "Failed": FAILED, "Unknown": PENDING}
KINDS = {
    "microsoft.compute/virtualmachines": "instance", "microsoft.network/networkinterfaces": "network_interface",
    "microsoft.network/publicipaddresses": "public_ip", "microsoft.compute/disks": "disk",
    "microsoft.network/virtualnetworks": "network", "microsoft.network/networksecuritygroups": "security_group",
    "microsoft.network/applicationsecuritygroups": "application_security_group",
    "microsoft.network/loadbalancers": "load_balancer", "microsoft.compute/galleries": "gallery",
    "microsoft.resources/resourcegroups": "resource_group",
    "microsoft.compute/galleries/images/versions": "image",
}  # fmt: skip
TYPICAL_SECONDS = {"network": 5.0, "security_group": 5.0, "load_balancer": 30.0, "instance": 60.0, "image": 900.0}
# An image is a gallery image version (one id for every region it is replicated to); Strata's image ids
# are per region, as EC2's are: a replica's id is the version's with "@<region>" after it.
IN_REGION = "@"
VERSIONS_SECONDS = 1.0  # how long a listing of the galleries' image versions is reused
CAPTURE_SECONDS = 600.0  # the longest a builder's deallocation is waited for before its image is captured
PRIORITY_START, PRIORITY_STEP = 100, 10


def _name(token: str) -> str:
    return f"strata-{token_hash(token)}"


def _raw(pipeline_response: Any, deserialized: Any, headers: Any) -> Any:
    """The SDK's `cls` hook: ARM's JSON as it came, for every client alike."""
    return pipeline_response.http_response.json() if pipeline_response.http_response.text() else None


def _items(models: list[Any]) -> list[dict[str, Any]]:
    """The SDK's `cls` hook for a page of a list: its items as ARM's JSON."""
    return [dict(model.as_dict()) if hasattr(model, "as_dict") else dict(model) for model in models]


def _group_of(resource_id: str) -> str:
    return resource_id.split("/")[4]


def _provider_path(resource_id: str) -> list[str]:
    """['Microsoft.Network', 'virtualNetworks', 'vnet', 'subnets', 'cp'] from an ARM id."""
    parts = resource_id.strip("/").split("/")
    return parts[parts.index("providers") + 1 :] if "providers" in parts else []


def _type_of(resource_id: str) -> str:
    path = _provider_path(resource_id)
    if not path:
        return "microsoft.resources/resourcegroups" if resource_id.count("/") == 4 else ""
    return "/".join([path[0], *path[1::2]]).lower()


def _age(resource: dict[str, Any]) -> datetime | None:
    text = (resource.get("systemData") or {}).get("createdAt") or resource.get("properties", {}).get("timeCreated")
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _version_name(token: str) -> str:
    """A gallery image version's name (three integers) derived from the token."""
    digest = hashlib.sha256(token.encode()).digest()
    return ".".join(str(int.from_bytes(digest[i : i + 3], "big") % 1_000_000) for i in (0, 3, 6))


def unusable_key() -> str:
    """An OpenSSH public key whose private half is never kept (a new one each time): Azure's Linux VMs
    take SSH keys only, no password, and a node nobody logs in to still needs one."""
    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _ports(rule: dict[str, Any]) -> str:
    return str(rule["ports"])


class AzureCloud:
    """CloudDriver for one subscription through one service principal's credential."""

    def __init__(
        self, credential: Any, subscription: str, regions: list[str], endpoint: str | None = None,
        verify: str | bool = True, builder_ssh: dict[str, str] | None = None, home_region: str = "eastus",
        attempts: int = 4,
    ):  # fmt: skip
        """`endpoint` is ARM's URL (a sovereign cloud's, or a stand-in's); `verify` a CA bundle's path or
        True; `builder_ssh` is for stand-ins whose VMs are not machines (see strata_common.clouds.stand_in)."""
        options: dict[str, Any] = {"connection_verify": verify, "retry_total": attempts - 1, "retry_backoff_max": 30}
        if endpoint:
            options.update(base_url=endpoint, credential_scopes=["https://management.azure.com/.default"])
        self.subscription = subscription
        self.attempts = attempts
        self.regions = regions
        self.home_region = home_region
        self.builder_ssh = builder_ssh
        self.resources = ResourceManagementClient(credential, subscription, **options)
        self.network = NetworkManagementClient(credential, subscription, **options)
        self.compute = ComputeManagementClient(credential, subscription, **options)
        self._made: set[str] = set()  # galleries with Strata's image definition (never deleted by Strata)
        self._listing: tuple[float, list[dict[str, Any]]] | None = None  # (when, _versions())

    @contextmanager
    def _calls(self) -> Iterator[None]:
        try:
            yield
        except AzureError as err:
            raise cloud_error(err) from None

    def _id(self, group: str, provider: str, *names: str) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{group}/providers/{provider}/" + "/".join(names)

    @staticmethod
    def _found(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """A GET's JSON, or None where ARM answers 404."""
        try:
            return call(*args, cls=_raw, **kwargs)
        except ResourceNotFoundError:
            return None

    @staticmethod
    def _put(call: Any, *args: Any) -> dict[str, Any]:
        """A PUT, answered at once: the resource as ARM took it (its provisioningState may be non-terminal)."""
        started = call(*args, polling=False, cls=_raw)
        return started.result() if isinstance(started, LROPoller) else started

    def _group(self, name: str, region: str, tags: dict[str, str]) -> None:
        if self._found(self.resources.resource_groups.get, name) is None:
            self.resources.resource_groups.create_or_update(name, {"location": region, "tags": tags})

    # -- networks --------------------------------------------------------------------------------

    def ensure_network(
        self, region: str, cidr: str, zones: list[str], tags: dict[str, str], token: str,
        roles: tuple[str, ...] = NODE_ROLES,
    ) -> Resource:  # fmt: skip
        """A resource group named after the token, a VNet in it with one subnet per role (Azure's subnets
        are regional: a role's subnet serves every zone)."""
        group, owned = _name(token), {**tags, TOKEN_TAG: token}
        with self._calls():
            self._group(group, region, owned)
            vnet = self._found(self.network.virtual_networks.get, group, "network")
            subnets = {s["name"] for s in (vnet or {}).get("properties", {}).get("subnets", [])}
            if vnet is None or not set(roles) <= subnets:
                body = {"location": region, "tags": owned, "properties": {
                    "addressSpace": {"addressPrefixes": [cidr]},
                    "subnets": [{"name": role, "properties": {"addressPrefix": subnet_cidr(cidr, i)}}
                                for i, role in enumerate(roles)]}}  # fmt: skip
                vnet = self._put(self.network.virtual_networks.begin_create_or_update, group, "network", body)
        return self._network_resource(vnet, zones)

    def _network_resource(self, vnet: dict[str, Any], zones: list[str]) -> Resource:
        subnets = {s["name"]: s["id"] for s in vnet["properties"].get("subnets", [])}
        spec = {"cidr": vnet["properties"]["addressSpace"]["addressPrefixes"][0],
                "resourceGroup": _group_of(vnet["id"]),
                "subnets": {role: dict.fromkeys(zones, subnet) for role, subnet in subnets.items()}}  # fmt: skip
        state = vnet["properties"].get("provisioningState", "Succeeded")
        return Resource(vnet["id"], "network", vnet["location"], None, STATES.get(state, PENDING), spec,
                        vnet.get("tags") or {}, _age(vnet), state)  # fmt: skip

    def _default_subnet(self, region: str) -> str:
        """Where a VM launched without a subnet goes: a network per region made on first use (as EC2's
        default VPC is there without asking)."""
        token = f"default-network:{self.subscription}:{region}"
        network = self.ensure_network(region, "10.200.0.0/16", [], {"strata:managed-by": "strata"}, token,
                                      roles=("default",))  # fmt: skip
        return f"{network.id}/subnets/default"

    def ensure_security_groups(
        self, region: str, network_id: str, groups: dict[str, list[dict[str, Any]]], tags: dict[str, str], token: str
    ) -> dict[str, Resource]:
        """An ASG and an NSG per group (same name): the ASGs first, then the NSGs whose rules name them."""
        group = _group_of(network_id)
        names = {name: f"{name}-{token_hash(token, 8)}" for name in groups}
        owned = {**tags, TOKEN_TAG: token}
        with self._calls():
            asgs = {}
            for name, azure_name in names.items():
                found = self._found(self.network.application_security_groups.get, group, azure_name)
                asgs[name] = (
                    found
                    or self._put(
                        self.network.application_security_groups.begin_create_or_update,
                        group,
                        azure_name,
                        {"location": region, "tags": {**owned, "strata:role": name}},
                    )
                )["id"]
            made = {}
            for name, rules in groups.items():
                wanted = self._security_rules(rules, asgs)
                found = self._found(self.network.network_security_groups.get, group, names[name])
                have = {r["name"]: r for r in (found or {}).get("properties", {}).get("securityRules", [])}
                if found is None or any(r["name"] not in have for r in wanted):
                    kept = [r for n, r in have.items() if n not in {w["name"] for w in wanted}]
                    body = {"location": region, "tags": {**owned, "strata:role": name},
                            "properties": {"securityRules": [*wanted, *_writable(kept)]}}  # fmt: skip
                    found = self._put(self.network.network_security_groups.begin_create_or_update, group,
                                      names[name], body)  # fmt: skip
                made[name] = found
        ids = {name: nsg["id"] for name, nsg in made.items()}
        return {name: self._group_resource(nsg, asgs, ids) for name, nsg in made.items()}

    @staticmethod
    def _security_rules(rules: list[dict[str, Any]], asgs: dict[str, str]) -> list[dict[str, Any]]:
        """Strata's rules as NSG rules: one for the groups a rule names (their ASGs), one for its CIDRs."""
        made, priority = [], PRIORITY_START
        for index, rule in enumerate(rules):
            common = {"protocol": rule["protocol"].capitalize(), "sourcePortRange": "*",
                      "destinationAddressPrefix": "*", "destinationPortRange": _ports(rule), "access": "Allow",
                      "direction": "Inbound", "description": rule.get("why", "")[:140]}  # fmt: skip
            if rule.get("from"):
                sources = [{"id": asgs[name]} for name in rule["from"]]
                made.append({"name": f"rule-{index}-groups", "properties": {
                    **common, "priority": priority, "sourceApplicationSecurityGroups": sources}})  # fmt: skip
                priority += PRIORITY_STEP
            if rule.get("cidrs"):
                made.append({"name": f"rule-{index}-cidrs", "properties": {
                    **common, "priority": priority, "sourceAddressPrefixes": list(rule["cidrs"])}})  # fmt: skip
                priority += PRIORITY_STEP
        return made

    @staticmethod
    def _group_resource(nsg: dict[str, Any], asgs: dict[str, str], ids: dict[str, str]) -> Resource:
        """An NSG read back as Strata's rules, sources named by the groups' (NSG) ids."""
        by_asg = {asg.lower(): ids[name] for name, asg in asgs.items() if name in ids}
        rules = []
        for rule in nsg["properties"].get("securityRules", []):
            p = rule["properties"]
            rules.append({
                "protocol": p["protocol"].lower(), "ports": p.get("destinationPortRange", "*"),
                "from": sorted(by_asg.get(g["id"].lower(), g["id"])
                               for g in p.get("sourceApplicationSecurityGroups", [])),
                "cidrs": sorted(p.get("sourceAddressPrefixes") or ([p["sourceAddressPrefix"]]
                                                                    if p.get("sourceAddressPrefix") else [])),
                "why": p.get("description", ""),
            })  # fmt: skip
        state = nsg["properties"].get("provisioningState", "Succeeded")
        return Resource(nsg["id"], "security_group", nsg["location"], None, READY if state != "Failed" else FAILED,
                        {"network": None, "name": nsg["name"], "rules": sorted(rules, key=lambda r: (r["protocol"],
                                                                                                  r["ports"]))},
                        nsg.get("tags") or {}, _age(nsg), state)  # fmt: skip

    # -- load balancers --------------------------------------------------------------------------

    def ensure_load_balancer(
        self, region: str, network_id: str, port: int, tags: dict[str, str], token: str,
        security_groups: tuple[str, ...] = (),
    ) -> Resource:  # fmt: skip
        """A Standard public load balancer: a static public IP with a DNS label, a backend pool for the
        control-plane NICs, a TCP probe and a rule on `port`."""
        group, name, owned = _group_of(network_id), _name(token), {**tags, TOKEN_TAG: token}
        lb_id = self._id(group, "Microsoft.Network", "loadBalancers", name)
        with self._calls():
            address = self._found(self.network.public_ip_addresses.get, group, f"{name}-ip")
            if address is None:
                address = self._put(self.network.public_ip_addresses.begin_create_or_update, group, f"{name}-ip", {
                    "location": region, "tags": owned, "sku": {"name": "Standard", "tier": "Regional"},
                    "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4",
                                   "dnsSettings": {"domainNameLabel": f"strata-{token_hash(token, 20)}"}}})  # fmt: skip
            balancer = self._found(self.network.load_balancers.get, group, name)
            if balancer is None:
                part = f"{lb_id}/{{}}/api"
                rule = {"protocol": "Tcp", "frontendPort": port, "backendPort": port, "idleTimeoutInMinutes": 30,
                        "enableTcpReset": True, "loadDistribution": "Default",
                        "frontendIPConfiguration": {"id": part.format("frontendIPConfigurations")},
                        "backendAddressPool": {"id": f"{lb_id}/backendAddressPools/control-plane"},
                        "probe": {"id": part.format("probes")}}  # fmt: skip
                balancer = self._put(self.network.load_balancers.begin_create_or_update, group, name, {
                    "location": region, "tags": owned, "sku": {"name": "Standard", "tier": "Regional"},
                    "properties": {
                        "frontendIPConfigurations": [{"name": "api", "properties": {
                            "publicIPAddress": {"id": address["id"]}}}],
                        "backendAddressPools": [{"name": "control-plane"}],
                        "probes": [{"name": "api", "properties": {"protocol": "Tcp", "port": port,
                                                                  "intervalInSeconds": 5, "numberOfProbes": 2}}],
                        "loadBalancingRules": [{"name": "api", "properties": rule}]}})  # fmt: skip
            for group_id in security_groups:
                self._through_balancer(group_id)
        return self._balancer_resource(balancer, address)

    def _through_balancer(self, balancer_group_id: str) -> None:
        """The balancer keeps clients' addresses: every NSG of its resource group that admits the balancer's
        group (its ASG) on a port also admits, on that port, the sources the balancer's group admits."""
        group, name = _group_of(balancer_group_id), balancer_group_id.split("/")[-1]
        balancer_group = self.network.network_security_groups.get(group, name, cls=_raw)
        admitted = {p["destinationPortRange"]: p.get("sourceAddressPrefixes") or [p.get("sourceAddressPrefix")]
                    for p in (r["properties"] for r in balancer_group["properties"].get("securityRules", []))
                    if p.get("sourceAddressPrefixes") or p.get("sourceAddressPrefix")}  # fmt: skip
        asg = self._id(group, "Microsoft.Network", "applicationSecurityGroups", name).lower()
        for nsg in self.network.network_security_groups.list(group, cls=_items):
            rules = nsg["properties"].get("securityRules", [])
            names = {r["name"] for r in rules}
            extra, priority = [], max([r["properties"]["priority"] for r in rules] or [PRIORITY_START]) + PRIORITY_STEP
            for rule in rules:
                p = rule["properties"]
                sources = {s["id"].lower() for s in p.get("sourceApplicationSecurityGroups", [])}
                port = p.get("destinationPortRange")
                if asg in sources and port in admitted and f"{rule['name']}-via-lb" not in names:
                    extra.append({"name": f"{rule['name']}-via-lb", "properties": {
                        **{k: v for k, v in p.items() if k not in ("sourceApplicationSecurityGroups",
                                                                    "provisioningState", "priority")},
                        "priority": priority, "sourceAddressPrefixes": admitted[port],
                        "description": f"{p.get('description', '')} (through the load balancer)"[:140]}})  # fmt: skip
                    priority += PRIORITY_STEP
            if extra:
                body = {"location": nsg["location"], "tags": nsg.get("tags") or {},
                        "properties": {"securityRules": [*_writable(rules), *extra]}}  # fmt: skip
                self._put(self.network.network_security_groups.begin_create_or_update, group, nsg["name"], body)

    def _balancer_resource(self, balancer: dict[str, Any], address: dict[str, Any] | None = None) -> Resource:
        group = _group_of(balancer["id"])
        if address is None:
            frontend = balancer["properties"]["frontendIPConfigurations"][0]["properties"]["publicIPAddress"]["id"]
            address = self.network.public_ip_addresses.get(group, frontend.split("/")[-1], cls=_raw)
        pools = balancer["properties"].get("backendAddressPools", [])
        members = [c["id"] for pool in pools for c in pool.get("properties", {}).get("backendIPConfigurations", [])]
        targets = sorted({self._vm_of_nic(member) for member in members})
        port = next((r["properties"]["frontendPort"] for r in balancer["properties"].get("loadBalancingRules", [])),
                    None)  # fmt: skip
        states = {balancer["properties"].get("provisioningState"), address["properties"].get("provisioningState")}
        state = FAILED if "Failed" in states else READY if states == {"Succeeded"} else PENDING
        spec = {"dnsName": (address["properties"].get("dnsSettings") or {}).get("fqdn"), "port": port,
                "targets": targets, "address": address["properties"].get("ipAddress")}  # fmt: skip
        return Resource(
            balancer["id"],
            "load_balancer",
            balancer["location"],
            None,
            state,
            spec,
            balancer.get("tags") or {},
            _age(balancer),
            balancer["properties"].get("provisioningState", ""),
        )

    def _vm_of_nic(self, config_id: str) -> str:
        """The VM a NIC of Strata's serves (a NIC is named after its VM: `<vm>-nic`)."""
        nic = config_id.split("/networkInterfaces/")[1].split("/")[0]
        return self._id(_group_of(config_id), "Microsoft.Compute", "virtualMachines", nic.removesuffix("-nic"))

    def register_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        return self._targets(load_balancer_id, instance_ids, True)

    def deregister_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        return self._targets(load_balancer_id, instance_ids, False)

    def _targets(self, load_balancer_id: str, instance_ids: list[str], join: bool) -> Resource:
        """A VM is a target by its NIC's IP configuration joining the balancer's backend pool."""
        pool = f"{load_balancer_id}/backendAddressPools/control-plane"
        with self._calls():
            for vm_id in instance_ids:
                group, nic_name = _group_of(vm_id), f"{vm_id.split('/')[-1]}-nic"
                nic = self._found(self.network.network_interfaces.get, group, nic_name)
                if nic is None:
                    continue
                config = nic["properties"]["ipConfigurations"][0]["properties"]
                pools = config.get("loadBalancerBackendAddressPools") or []
                there = any(p["id"].lower() == pool.lower() for p in pools)
                if there == join:
                    continue
                config["loadBalancerBackendAddressPools"] = (
                    [*pools, {"id": pool}] if join else [p for p in pools if p["id"].lower() != pool.lower()]
                )
                self._put(self.network.network_interfaces.begin_create_or_update, group, nic_name, _writable_nic(nic))
            balancer = self.network.load_balancers.get(_group_of(load_balancer_id), load_balancer_id.split("/")[-1],
                                                       cls=_raw)  # fmt: skip
            return self._balancer_resource(balancer)

    # -- images ----------------------------------------------------------------------------------

    def catalog_image(self, region: str, reference: dict[str, Any]) -> str:
        """The pack's image: a gallery image version id (`galleryImageId`), or a marketplace image
        (`imagePublisher`, `imageOffer`, `imageSKU`, `imageVersion` or latest) as a URN with its version
        pinned, so every node of a cluster gets the same one."""
        if reference.get("galleryImageId"):
            return str(reference["galleryImageId"])
        publisher, offer, sku = (reference.get(k) for k in ("imagePublisher", "imageOffer", "imageSKU"))
        if not (publisher and offer and sku):
            raise CloudError(
                INVALID,
                "ImageReferenceMissing",
                "the OS pack names no Azure image (imagePublisher, imageOffer and imageSKU, or galleryImageId)",
            )
        version = reference.get("imageVersion") or "latest"
        with self._calls():
            if version == "latest":
                versions = self.compute.virtual_machine_images.list(region, publisher, offer, sku, cls=_raw_list)
                if not versions:
                    raise CloudError(
                        INVALID, "PlatformImageNotFound", f"no image {publisher}:{offer}:{sku} in {region}"
                    )
                version = max((v["name"] for v in versions), key=_version_key)
            else:
                self.compute.virtual_machine_images.get(region, publisher, offer, sku, version)
        return f"{publisher}:{offer}:{sku}:{version}"

    def _gallery(self, region: str) -> str:
        return f"strata_images_{region}"

    def _ensure_gallery(self, region: str) -> str:
        gallery = self._gallery(region)
        key = f"{gallery}/{IMAGE_DEFINITION}"
        if key in self._made:
            return gallery
        tags = {"strata:managed-by": "strata"}
        self._group(IMAGE_GROUP, self.home_region, tags)
        if self._found(self.compute.galleries.get, IMAGE_GROUP, gallery) is None:
            self._put(self.compute.galleries.begin_create_or_update, IMAGE_GROUP, gallery, {
                "location": region, "tags": tags,
                "properties": {"description": "Images Strata built, by signature"}})  # fmt: skip
        if self._found(self.compute.gallery_images.get, IMAGE_GROUP, gallery, IMAGE_DEFINITION) is None:
            self._put(self.compute.gallery_images.begin_create_or_update, IMAGE_GROUP, gallery, IMAGE_DEFINITION, {
                "location": region, "tags": tags, "properties": {
                    "osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V2",
                    "identifier": {"publisher": "Strata", "offer": "strata-images", "sku": "linux-gen2"}}})  # fmt: skip
        self._made.add(key)
        return gallery

    def _image_resource(self, version: dict[str, Any], region: str) -> Resource:
        summary = {s["region"].lower().replace(" ", ""): s["state"]
                   for s in (version["properties"].get("replicationStatus") or {}).get("summary", [])}  # fmt: skip
        provisioning = version["properties"].get("provisioningState", "Succeeded")
        native = summary.get(region, "Unknown")
        state = FAILED if provisioning == "Failed" else STATES.get(provisioning, PENDING)
        if state == READY:
            state = REPLICATION.get(native, PENDING)
        image_id = version["id"] if region == version["location"] else f"{version['id']}{IN_REGION}{region}"
        return Resource(image_id, "image", region, None, state, {"name": version["name"]},
                        version.get("tags") or {}, _age(version), native)  # fmt: skip

    def _versions(self) -> list[dict[str, Any]]:
        """Every version of Strata's image definition in each region's gallery: one listing per gallery,
        kept VERSIONS_SECONDS (an image step looks in several regions at once, and again while its image
        replicates) and dropped when this driver makes or replicates a version. A version another process
        made in that second is found at the step's next look (its build's lock makes this one wait)."""
        kept = self._listing
        if kept is not None and time.monotonic() - kept[0] < VERSIONS_SECONDS:
            return kept[1]
        found = []
        for region in self.regions:
            gallery = self._gallery(region)
            try:
                found += self.compute.gallery_image_versions.list_by_gallery_image(
                    IMAGE_GROUP, gallery, IMAGE_DEFINITION, cls=_items
                )
            except ResourceNotFoundError:
                continue
        self._listing = (time.monotonic(), found)
        return found

    def _version(self, image_id: str) -> dict[str, Any] | None:
        version_id = _in_region(image_id)[0]
        path = _provider_path(version_id)
        return self._found(self.compute.gallery_image_versions.get, _group_of(version_id), path[2], path[4], path[6],
                           expand="ReplicationStatus")  # fmt: skip

    @staticmethod
    def _targets_of(version: dict[str, Any]) -> list[str]:
        profile = version["properties"].get("publishingProfile") or {}
        return [t["name"].lower().replace(" ", "") for t in profile.get("targetRegions", [])]

    def find_images(self, region: str, tags: dict[str, str]) -> list[Resource]:
        with self._calls():
            matching = [v for v in self._versions() if tags.items() <= (v.get("tags") or {}).items()
                        and region in self._targets_of(v)]  # fmt: skip
            described = [self._version(v["id"]) for v in matching]
        images = [self._image_resource(v, region) for v in described if v]
        return sorted(images, key=lambda i: i.created_at or datetime.min.replace(tzinfo=UTC))

    def copy_image(self, image_id: str, region: str, tags: dict[str, str], token: str) -> Resource:
        """A copy to a region is the version replicated there as well."""
        with self._calls():
            version = self._version(image_id)
            if version is None:
                raise CloudError(NOT_FOUND, "GalleryImageNotFound", f"image {image_id} does not exist")
            if region not in self._targets_of(version):
                profile = version["properties"]["publishingProfile"]
                targets = [*profile["targetRegions"], {"name": region, "regionalReplicaCount": 1,
                                                       "storageAccountType": "Standard_LRS"}]  # fmt: skip
                path = _provider_path(version["id"])
                self._put(
                    self.compute.gallery_image_versions.begin_create_or_update,
                    _group_of(version["id"]),
                    path[2],
                    path[4],
                    path[6],
                    {
                        "location": version["location"],
                        "tags": version.get("tags") or {},
                        "properties": {
                            "publishingProfile": {**_writable_profile(profile), "targetRegions": targets},
                            "storageProfile": version["properties"]["storageProfile"],
                        },
                    },
                )
                self._listing = None
                version = self._version(image_id) or version
        return self._image_resource(version, region)

    def create_image(self, instance_id: str, tags: dict[str, str], token: str) -> Resource:
        """Capture a builder into a gallery image version: deallocate it (waited for), generalize it, and
        PUT the version with the VM as its source (the version then replicates on its own)."""
        group, vm_name = _group_of(instance_id), instance_id.split("/")[-1]
        with self._calls():
            region = self.compute.virtual_machines.get(group, vm_name, cls=_raw)["location"]
            gallery, name = self._ensure_gallery(region), _version_name(token)
            version_id = self._id(IMAGE_GROUP, "Microsoft.Compute", "galleries", gallery, "images", IMAGE_DEFINITION,
                                  "versions", name)  # fmt: skip
            found = self._version(version_id)
            if found is not None:
                return self._image_resource(found, region)
            viewed = self.compute.virtual_machines.get(group, vm_name, expand="instanceView", cls=_raw)
            if _power(viewed) != "deallocated":
                poller = self.compute.virtual_machines.begin_deallocate(group, vm_name, polling_interval=1)
                poller.result(timeout=CAPTURE_SECONDS)
                if not poller.done():  # the step comes back for it
                    raise CloudError(CONFLICT, "DeallocationPending", f"builder {vm_name} is still deallocating")
            self.compute.virtual_machines.generalize(group, vm_name)
            self._put(
                self.compute.gallery_image_versions.begin_create_or_update,
                IMAGE_GROUP,
                gallery,
                IMAGE_DEFINITION,
                name,
                {
                    "location": region,
                    "tags": {**tags, TOKEN_TAG: token},
                    "properties": {
                        "storageProfile": {"source": {"virtualMachineId": instance_id}},
                        "publishingProfile": {
                            "replicaCount": 1,
                            "targetRegions": [
                                {"name": region, "regionalReplicaCount": 1, "storageAccountType": "Standard_LRS"}
                            ],
                        },
                    },
                },
            )
            self._listing = None
            return self._image_resource(self._version(version_id) or {}, region)

    # -- instances -------------------------------------------------------------------------------

    def _vm_resource(self, vm: dict[str, Any]) -> Resource:
        p = vm["properties"]
        provisioning = p.get("provisioningState", "Succeeded")
        power = _power(vm)
        state = STATES.get(provisioning, PENDING)
        if state == READY and power in ("starting", "creating"):
            state = PENDING
        nic = (p.get("networkProfile", {}).get("networkInterfaces") or [{}])[0].get("id")
        spec = {
            "instanceType": p.get("hardwareProfile", {}).get("vmSize"),
            "networkInterface": nic,
            "image": _image_text(p.get("storageProfile", {}).get("imageReference") or {}),
            "power": power,
        }
        return Resource(
            vm["id"],
            "instance",
            vm["location"],
            (vm.get("zones") or [None])[0],
            state,
            spec,
            vm.get("tags") or {},
            _age(vm),
            f"{provisioning}/{power}" if power else provisioning,
        )

    def run_instance(self, launch: LaunchSpec) -> Resource:
        """NIC then VM, both named after the token; either found already is used as it is."""
        name = _name(launch.token)
        with self._calls():
            subnet = launch.subnet or self._default_subnet(launch.region)
            group = _group_of(subnet)
            vm = self._found(self.compute.virtual_machines.get, group, name, expand="instanceView")
            if vm is not None:
                return self._vm_resource(vm)
            nic_id = self._ensure_nic(group, name, subnet, launch)
            body = {"location": launch.region, "tags": {**launch.tags, TOKEN_TAG: launch.token}, "properties": {
                "hardwareProfile": {"vmSize": launch.instance_type},
                "storageProfile": {"imageReference": _image_reference(launch.image), "osDisk": {
                    "createOption": "FromImage", "deleteOption": "Delete", "diskSizeGB": launch.disk_gib,
                    "managedDisk": {"storageAccountType": "Premium_LRS"}}},
                "osProfile": {"computerName": name, "adminUsername": ADMIN_USER,
                              "customData": base64.b64encode(launch.user_data.encode()).decode(),
                              "linuxConfiguration": {"disablePasswordAuthentication": True, "ssh": {"publicKeys": [
                                  {"path": f"/home/{ADMIN_USER}/.ssh/authorized_keys",
                                   "keyData": launch.ssh_key or unusable_key()}]}}},
                "networkProfile": {"networkInterfaces": [
                    {"id": nic_id, "properties": {"primary": True, "deleteOption": "Delete"}}]}}}  # fmt: skip
            if launch.zone and launch.zone.isdigit():
                body["zones"] = [launch.zone]
            if launch.identity:
                body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {launch.identity: {}}}
            return self._vm_resource(self._put(self.compute.virtual_machines.begin_create_or_update, group, name, body))

    def _ensure_nic(self, group: str, name: str, subnet: str, launch: LaunchSpec) -> str:
        nic_name = f"{name}-nic"
        found = self._found(self.network.network_interfaces.get, group, nic_name)
        if found is not None:
            return str(found["id"])
        config: dict[str, Any] = {"subnet": {"id": subnet}, "privateIPAllocationMethod": "Dynamic", "primary": True}
        if launch.security_groups:  # each group's ASG of the same name; the first group's NSG filters the NIC
            config["applicationSecurityGroups"] = [{"id": g.replace("/networkSecurityGroups/",
                                                                    "/applicationSecurityGroups/")}
                                                   for g in launch.security_groups]  # fmt: skip
        if launch.ssh_key and not self.builder_ssh:  # a builder: Strata reaches it over SSH from outside
            config["publicIPAddress"] = {
                "id": self._put(
                    self.network.public_ip_addresses.begin_create_or_update,
                    group,
                    f"{name}-ip",
                    {
                        "location": launch.region,
                        "tags": {**launch.tags, TOKEN_TAG: launch.token},
                        "sku": {"name": "Standard"},
                        "properties": {"publicIPAllocationMethod": "Static"},
                    },
                )["id"]
            }
        body: dict[str, Any] = {
            "location": launch.region,
            "tags": {**launch.tags, TOKEN_TAG: launch.token},
            "properties": {"ipConfigurations": [{"name": "primary", "properties": config}]},
        }
        if launch.security_groups:
            body["properties"]["networkSecurityGroup"] = {"id": launch.security_groups[0]}
        return str(self._put(self.network.network_interfaces.begin_create_or_update, group, nic_name, body)["id"])

    def change_instance_type(self, instance_id: str, instance_type: str) -> Resource:
        group, name = _group_of(instance_id), instance_id.split("/")[-1]
        with self._calls():
            vm = self.compute.virtual_machines.get(group, name, cls=_raw)
            body = {
                "location": vm["location"],
                "tags": vm.get("tags") or {},
                "zones": vm.get("zones"),
                "properties": {
                    k: v
                    for k, v in vm["properties"].items()
                    if k not in ("provisioningState", "vmId", "timeCreated", "instanceView")
                },
            }
            body["properties"]["hardwareProfile"] = {"vmSize": instance_type}
            return self._vm_resource(self._put(self.compute.virtual_machines.begin_create_or_update, group, name, body))

    # -- any resource ----------------------------------------------------------------------------

    def describe(self, ids: list[str]) -> list[Resource]:
        found = []
        with self._calls():
            for resource_id in ids:
                found.append(
                    self._describe(resource_id)
                    or Resource(
                        resource_id,
                        KINDS.get(_type_of(_in_region(resource_id)[0]), "unknown"),
                        "",
                        None,
                        GONE,
                        native_state="NotFound",
                    )
                )
        return found

    def _describe(self, resource_id: str) -> Resource | None:
        resource_id, region = _in_region(resource_id)
        kind, group, name = _type_of(resource_id), _group_of(resource_id), resource_id.split("/")[-1]
        if kind == "microsoft.compute/virtualmachines":
            vm = self._found(self.compute.virtual_machines.get, group, name, expand="instanceView")
            return self._vm_resource(vm) if vm else None
        if kind == "microsoft.compute/galleries/images/versions":
            version = self._version(resource_id)
            return self._image_resource(version, region or version["location"]) if version else None
        if kind == "microsoft.network/loadbalancers":
            balancer = self._found(self.network.load_balancers.get, group, name)
            return self._balancer_resource(balancer) if balancer else None
        if kind == "microsoft.network/virtualnetworks":
            vnet = self._found(self.network.virtual_networks.get, group, name)
            return self._network_resource(vnet, []) if vnet else None
        if kind == "microsoft.resources/resourcegroups":
            found = self._found(self.resources.resource_groups.get, name)
            return _listed(found) if found else None
        getter = {"microsoft.network/networksecuritygroups": self.network.network_security_groups.get,
                  "microsoft.network/applicationsecuritygroups": self.network.application_security_groups.get,
                  "microsoft.network/networkinterfaces": self.network.network_interfaces.get,
                  "microsoft.network/publicipaddresses": self.network.public_ip_addresses.get,
                  "microsoft.compute/disks": self.compute.disks.get}.get(kind)  # fmt: skip
        if getter is None:
            return None
        found = self._found(getter, group, name)
        return _listed(found) if found else None

    def delete(self, resource_id: str) -> None:
        """Start the delete (ARM finishes it on its own); a builder's public IP is let go of first. An image
        is its gallery version, in every region it was replicated to."""
        resource_id = _in_region(resource_id)[0]
        kind, group, name = _type_of(resource_id), _group_of(resource_id), resource_id.split("/")[-1]
        try:
            with self._calls():
                if kind == "microsoft.resources/resourcegroups":
                    self.resources.resource_groups.begin_delete(name, polling=False)
                elif kind == "microsoft.compute/virtualmachines":
                    self._release_public_ip(group, name)
                    self.compute.virtual_machines.begin_delete(group, name, polling=False)
                elif kind == "microsoft.compute/galleries/images/versions":
                    path = _provider_path(resource_id)
                    self.compute.gallery_image_versions.begin_delete(group, path[2], path[4], path[6], polling=False)
                else:
                    deleter = {
                        "microsoft.network/virtualnetworks": self.network.virtual_networks.begin_delete,
                        "microsoft.network/networksecuritygroups": self.network.network_security_groups.begin_delete,
                        "microsoft.network/applicationsecuritygroups":
                            self.network.application_security_groups.begin_delete,
                        "microsoft.network/loadbalancers": self.network.load_balancers.begin_delete,
                        "microsoft.network/publicipaddresses": self.network.public_ip_addresses.begin_delete,
                        "microsoft.network/networkinterfaces": self.network.network_interfaces.begin_delete,
                        "microsoft.compute/disks": self.compute.disks.begin_delete,
                        "microsoft.compute/galleries": self.compute.galleries.begin_delete,
                    }.get(kind)  # fmt: skip
                    if deleter is None:
                        raise CloudError(INVALID, "UnsupportedResource", f"Strata does not delete {kind} resources")
                    deleter(group, name, polling=False)
        except CloudError as err:
            if err.kind != NOT_FOUND:  # deleting what is already gone is not an error
                raise

    def _release_public_ip(self, group: str, vm_name: str) -> None:
        """A builder's public IP goes with it: taken off its NIC (else it is in use) and deleted."""
        nic = self._found(self.network.network_interfaces.get, group, f"{vm_name}-nic")
        config = (nic or {}).get("properties", {}).get("ipConfigurations", [{}])[0].get("properties", {})
        address = config.get("publicIPAddress")
        if not nic or not address:
            return
        config.pop("publicIPAddress")
        self._put(self.network.network_interfaces.begin_create_or_update, group, nic["name"], _writable_nic(nic))
        self.network.public_ip_addresses.begin_delete(group, address["id"].split("/")[-1], polling=False)

    def list_owned(self, tags: TagFilter, kinds: tuple[str, ...] | None = None) -> list[Resource]:
        """One `resources` listing (and one of resource groups) filtered by one tag, `strata:cluster` where
        it is asked for; a tuple of values is one listing by the tag's name for all of them, matched here.
        ARM leaves the tags out of a listing filtered by a tag's name and value, so the other tags asked
        for are checked here on VMs (listed whole: one VM list per resource group, for their sizes and
        power states too) and on what the listing shows tags for; a cluster's other resources carry its
        other tags anyway. Resources being deleted are listed (their state says so): they are still there."""
        key = "strata:cluster" if "strata:cluster" in tags else sorted(tags)[0]
        value = tags[key]
        where = f"tagName eq '{key}'" + (f" and tagValue eq '{value}'" if isinstance(value, str) else "")
        with self._calls():
            listed = list(self.resources.resources.list(filter=where, expand="provisioningState", cls=_items))
            if kinds is None or "resource_group" in kinds:
                listed += self.resources.resource_groups.list(filter=where, cls=_items)
        owned, vms = [], set()
        for item in listed:
            resource = _listed(item, {key: value} if isinstance(value, str) else {})
            if item.get("tags") is not None and not _tagged(item["tags"], tags):
                continue
            if resource.kind == "instance" and (kinds is None or "instance" in kinds):
                vms.add(_group_of(resource.id))
            elif kinds is None or resource.kind in kinds:
                owned.append(resource)
        with self._calls():
            for group in sorted(vms):
                found = self.compute.virtual_machines.list(group, expand="instanceView", cls=_items)
                owned += [self._vm_resource(vm) for vm in found if _tagged(vm.get("tags") or {}, tags)]
            if kinds and "image" in kinds:  # gallery versions are no `resources` of the list
                owned += [_listed(v) for v in self._versions() if _tagged(v.get("tags") or {}, tags)]
        return owned

    def builder_connection(self, builder: Resource, user: str | None = None) -> dict[str, str]:
        """SSH to the builder's public IP as the VMs' administrator; the roles customize "/"."""
        name = builder.id.split("/")[-1]
        if self.builder_ssh:  # a stand-in cloud: its VMs are not machines, a real sshd stands in (by VM name)
            return builder_over_stand_in_ssh(self.builder_ssh, name, user)
        with self._calls():
            address = self._found(self.network.public_ip_addresses.get, _group_of(builder.id), f"{name}-ip")
        ip = (address or {}).get("properties", {}).get("ipAddress")
        if not ip:
            raise CloudError(NOT_FOUND, "BuilderAddressMissing", f"builder {name} has no public IP address yet")
        return {"ansible_connection": "ssh", "ansible_host": ip, "ansible_port": "22", "ansible_user": ADMIN_USER,
                "image_root": "/", "ansible_become": "true"}  # fmt: skip

    def poll_delay(self, resource: Resource) -> float:
        """Half the resource's age, at least half a second and at most a quarter of its kind's typical time."""
        typical = TYPICAL_SECONDS.get(resource.kind, 10.0)
        age = (datetime.now(UTC) - resource.created_at).total_seconds() if resource.created_at else typical / 4
        return min(typical / 4, max(0.5, age / 2))


def _raw_list(pipeline_response: Any, deserialized: Any, headers: Any) -> list[dict[str, Any]]:
    return list(pipeline_response.http_response.json())


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _power(vm: dict[str, Any]) -> str:
    statuses = (vm.get("properties", {}).get("instanceView") or {}).get("statuses", [])
    return next((s["code"].split("/", 1)[1] for s in statuses if s.get("code", "").startswith("PowerState/")), "")


def _in_region(image_id: str) -> tuple[str, str | None]:
    """(gallery image version id, region) of an image id that names the region it was replicated to."""
    version_id, _, region = image_id.partition(IN_REGION)
    return version_id, region or None


def _image_reference(image: str) -> dict[str, str]:
    if image.startswith("/"):
        return {"id": _in_region(image)[0]}
    publisher, offer, sku, version = image.split(":")
    return {"publisher": publisher, "offer": offer, "sku": sku, "version": version}


def _image_text(reference: dict[str, Any]) -> str:
    if reference.get("id"):
        return str(reference["id"])
    return ":".join(str(reference.get(k, "")) for k in ("publisher", "offer", "sku", "version"))


def _tagged(have: dict[str, str], wanted: TagFilter) -> bool:
    return all(have.get(k) in v if isinstance(v, tuple) else have.get(k) == v for k, v in wanted.items())


def _listed(item: dict[str, Any], known: dict[str, str] | None = None) -> Resource:
    """A listed resource; `known`: the tags it has for sure where the listing leaves its tags out."""
    kind = KINDS.get(str(item.get("type", "")).lower(), str(item.get("type", "")))
    state = item.get("provisioningState") or (item.get("properties") or {}).get("provisioningState") or "Succeeded"
    tags = item["tags"] if item.get("tags") is not None else (known or {})
    return Resource(item["id"], kind, str(item.get("location", "")), (item.get("zones") or [None])[0],
                    STATES.get(state, READY), {}, tags, _age(item), state)  # fmt: skip


def _writable(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": r["name"], "properties": {k: v for k, v in r["properties"].items() if k != "provisioningState"}}
            for r in rules]  # fmt: skip


def _writable_nic(nic: dict[str, Any]) -> dict[str, Any]:
    """A NIC as a PUT takes it back: its settings without what ARM fills in."""
    properties = {k: v for k, v in nic["properties"].items()
                  if k in ("ipConfigurations", "networkSecurityGroup", "enableAcceleratedNetworking")}  # fmt: skip
    properties["ipConfigurations"] = [{"name": c["name"], "properties": {
        k: v for k, v in c["properties"].items() if k not in ("provisioningState", "privateIPAddress")}}
        for c in properties["ipConfigurations"]]  # fmt: skip
    return {"location": nic["location"], "tags": nic.get("tags") or {}, "properties": properties}


def _writable_profile(profile: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in profile.items() if k not in ("publishedDate",)}
