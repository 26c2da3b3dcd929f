"""The vSphere driver: Strata's cloud verbs on vCenter (pyvmomi).

A region is a datacenter and a zone one of its compute clusters. A cluster's "network" is its
placement: a VM folder and a resource pool per zone named after its token, and the account's port
groups per role (vSphere has no subnets of its own; the port groups are the account's and never
deleted). There are no security groups (NSX is out of scope): `capabilities` says so and the
verb refuses. The control-plane endpoint is a virtual IP from the account's pool, kept on the
cluster's folder, that kube-vip serves from the control-plane nodes. Images are VM templates;
instances are clones of a template, reconfigured (vcsim ignores a clone's config, so does the
driver: it reconfigures after cloning) and powered on.

Ownership: every tag is a vCenter custom attribute of the same name on what the driver makes
(`strata:cluster`, ...), plus `strata:token`, `strata:region` and `strata:zone`. Idempotency: a
VM's name is derived from its token, and the driver looks the name up before it clones (vCenter
refuses a duplicate name in a folder, vcsim does not: the look-up is what counts).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import yaml
from pyVmomi import vim

from strata_common.clouds.addresses import address_pool
from strata_common.clouds.catalog import GENERIC_SIZES, InstanceType
from strata_common.clouds.driver import (
    CONFLICT,
    GONE,
    INVALID,
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
from strata_vsphere import ova
from strata_vsphere.session import Session

CAPABILITIES: frozenset[str] = frozenset()  # no security groups, no load balancer: a virtual IP (kube-vip)
TOKEN, REGION, ZONE, VIP, TARGETS = "strata:token", "strata:region", "strata:zone", "strata:vip", "strata:targets"
TYPICAL_SECONDS = {"instance": 60.0, "image": 300.0, "network": 1.0, "load_balancer": 0.0}
INTERNAL = (TOKEN, REGION, ZONE, VIP, f"{VIP}-port", TARGETS)  # the driver's own attributes, not the caller's tags


def vm_name(token: str) -> str:
    """A VM's name from its token: stable across attempts, valid in any folder."""
    return "strata-" + token_hash(token, 20)


def _with_key(user_data: str, ssh_key: str | None) -> str:
    """The cloud-config with `ssh_key` among its authorized keys (how a builder VM takes Strata's key)."""
    if not ssh_key:
        return user_data
    config = yaml.safe_load(user_data.removeprefix("#cloud-config")) or {} if user_data.strip() else {}
    config["ssh_authorized_keys"] = [*config.get("ssh_authorized_keys", []), ssh_key]
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


def _public(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k not in INTERNAL}


class VsphereCloud:
    """CloudDriver over one vCenter."""

    capabilities = CAPABILITIES

    def __init__(self, session: Session, port_groups: dict[str, str], vip_pool: str,
                 sizes: dict[str, InstanceType] | None = None, builder_ssh: dict[str, str] | None = None):  # fmt: skip
        """`builder_ssh` is for stand-ins whose VMs are not machines (vcsim): where a builder's SSH
        answers instead, as for the AWS driver on moto."""
        self.session = session
        self.builder_ssh = builder_ssh
        self.port_groups = port_groups  # role -> port group name
        self.vip_pool = vip_pool
        self.sizes = sizes or GENERIC_SIZES
        self._fields: dict[tuple[str, str], int] = {}
        self._vip_lock = threading.Lock()

    # -- inventory -----------------------------------------------------------------------------

    def _datacenter(self, region: str) -> vim.Datacenter:
        for row in self.session.collect([vim.Datacenter], ["name"]):
            if row["name"] == region:
                return row["obj"]
        raise CloudError(INVALID, "NotFound", f"datacenter {region!r} does not exist")

    def _cluster(self, datacenter: vim.Datacenter, zone: str | None) -> vim.ClusterComputeResource:
        clusters = self.session.collect([vim.ClusterComputeResource], ["name"], datacenter.hostFolder)
        for row in clusters:
            if zone is None or row["name"] == zone:
                return row["obj"]
        raise CloudError(INVALID, "NotFound", f"compute cluster {zone!r} does not exist in {datacenter.name}")

    def _port_group(self, datacenter: vim.Datacenter, name: str) -> vim.Network:
        for row in self.session.collect([vim.Network], ["name"], datacenter.networkFolder):
            if row["name"] == name:
                return row["obj"]
        raise CloudError(INVALID, "NotFound", f"port group {name!r} does not exist in {datacenter.name}")

    def _field(self, name: str, mo_type: type) -> int:
        """The key of custom attribute `name` of objects of `mo_type` (made when missing). Attributes are
        made per type: vCenter allows that everywhere, and vcsim answers a typeless one without the
        field's type, which pyvmomi refuses to read."""
        if (name, mo_type.__name__) not in self._fields:

            def ensure(content: vim.ServiceInstanceContent) -> int:
                manager = content.customFieldsManager
                for field in manager.field or []:
                    if field.name == name and field.managedObjectType is mo_type:
                        return field.key
                try:
                    return manager.AddCustomFieldDef(name=name, moType=mo_type).key
                except vim.fault.DuplicateName:  # another process made it just now
                    return next(f.key for f in manager.field if f.name == name and f.managedObjectType is mo_type)

            self._fields[name, mo_type.__name__] = self.session.call(ensure)
        return self._fields[name, mo_type.__name__]

    def _names(self) -> dict[int, str]:
        fields = self.session.call(lambda content: list(content.customFieldsManager.field or []))
        return {f.key: f.name for f in fields}

    def _tag(self, entity: Any, tags: dict[str, str]) -> None:
        """Set each tag as a custom attribute (a later value of the same attribute wins)."""
        mo_type = type(entity)
        for name, value in tags.items():
            key = self._field(name, mo_type)
            self.session.call(lambda content, k=key, v=value: content.customFieldsManager.SetField(entity, k, v))

    def _owned(self, kinds_types: list[type], props: list[str]) -> list[dict[str, Any]]:
        """Every object of the types with a strata:token, its tags read from its custom attributes."""
        names = self._names()
        rows = []
        for kind_type in kinds_types:
            for row in self.session.collect([kind_type], ["customValue", *props]):
                tags = {names[v.key]: v.value for v in row.get("customValue") or [] if v.key in names}
                if TOKEN in tags:
                    rows.append({**row, "tags": tags})
        return rows

    # -- placement ("network") -----------------------------------------------------------------

    def ensure_network(
        self, region: str, cidr: str, zones: list[str], tags: dict[str, str], token: str,
        roles: tuple[str, ...] = ("control-plane", "workers"),
    ) -> Resource:  # fmt: skip
        """The cluster's VM folder and a resource pool per zone; its subnets are the account's port groups."""
        datacenter = self._datacenter(region)
        name = vm_name(token)
        folder = self._child(datacenter.vmFolder, name) or self._create_folder(datacenter.vmFolder, name)
        self._tag(folder, {**tags, TOKEN: token, REGION: region})
        pools = {}
        for zone in zones:
            cluster = self._cluster(datacenter, zone)
            pool = self._child(cluster.resourcePool, name, "resourcePool") or self._create_pool(cluster, name)
            self._tag(pool, {**tags, TOKEN: f"{token}/{zone}", REGION: region, ZONE: zone})
            pools[zone] = pool._moId
        groups = {role: self._port_group(datacenter, self.port_groups.get(role) or self.port_groups["workers"])._moId
                  for role in roles}  # another role (image builders) is on the workers' port group  # fmt: skip
        subnets = {role: dict.fromkeys(zones, groups[role]) for role in roles}
        return Resource(folder._moId, "network", region, None, READY,
                        {"cidr": cidr, "subnets": subnets, "folder": folder._moId, "pools": pools}, tags)  # fmt: skip

    def _child(self, parent: Any, name: str, attribute: str = "childEntity") -> Any:
        return next((c for c in self.session.call(lambda _: list(getattr(parent, attribute) or []))
                     if c.name == name), None)  # fmt: skip

    def _create_folder(self, parent: vim.Folder, name: str) -> vim.Folder:
        try:
            return self.session.call(lambda _: parent.CreateFolder(name))
        except CloudError as err:
            if err.kind == CONFLICT:  # made concurrently
                return self._child(parent, name)
            raise

    def _create_pool(self, cluster: vim.ClusterComputeResource, name: str) -> vim.ResourcePool:
        allocation = vim.ResourceAllocationInfo(reservation=0, limit=-1, expandableReservation=True,
                                                shares=vim.SharesInfo(level="normal", shares=0))  # fmt: skip
        spec = vim.ResourceConfigSpec(cpuAllocation=allocation, memoryAllocation=allocation)
        try:
            return self.session.call(lambda _: cluster.resourcePool.CreateResourcePool(name, spec))
        except CloudError as err:
            if err.kind == CONFLICT:
                return self._child(cluster.resourcePool, name, "resourcePool")
            raise

    def ensure_security_groups(self, region: str, network_id: str, groups: dict[str, list[dict[str, Any]]],
                               tags: dict[str, str], token: str) -> dict[str, Resource]:  # fmt: skip
        raise CloudError(INVALID, "NotSupported", "vSphere has no security groups (NSX is not supported)")

    # -- the control-plane endpoint: a virtual IP served by kube-vip ---------------------------

    def ensure_load_balancer(self, region: str, network_id: str, port: int, tags: dict[str, str], token: str,
                             security_groups: tuple[str, ...] = ()) -> Resource:  # fmt: skip
        """A free address of the account's pool, kept on the cluster's folder (the folder's own
        attribute: two clusters cannot hold the same address, a retry finds the one it took)."""
        folder = vim.Folder(network_id, self._stub())
        with self._vip_lock:
            held = {row["tags"][VIP]: row["obj"]._moId for row in self._vip_folders().values()}
            mine = next((vip for vip, owner in held.items() if owner == network_id), None)
            if mine is None:
                mine = next((a for a in address_pool(self.vip_pool) if a not in held), None)
                if mine is None:
                    raise CloudError("quota", "VipPoolExhausted", f"every address of {self.vip_pool} is taken")
                self._tag(folder, {VIP: mine, f"{VIP}-port": str(port)})
        return self._load_balancer(network_id, region, mine, tags)

    def _load_balancer(self, folder_id: str, region: str, vip: str, tags: dict[str, str],
                       targets: list[str] | None = None) -> Resource:  # fmt: skip
        return Resource(f"vip-{folder_id}", "load_balancer", region, None, READY,
                        {"dnsName": vip, "address": vip, "targets": sorted(targets or [])}, _public(tags))  # fmt: skip

    def _vip_of(self, folder: dict[str, Any]) -> Resource:
        """The virtual IP a cluster's folder holds, as a load balancer with its targets."""
        tags = folder["tags"]
        return self._load_balancer(folder["obj"]._moId, tags.get(REGION, ""), tags[VIP], tags,
                                   json.loads(tags.get(TARGETS) or "[]"))  # fmt: skip

    def _vip_folders(self) -> dict[str, dict[str, Any]]:
        """The folders holding a virtual IP, by the id of the load balancer it stands for."""
        return {f"vip-{row['obj']._moId}": row for row in self._owned([vim.Folder], ["name"]) if row["tags"].get(VIP)}

    def _targets(self, load_balancer_id: str, change: set[str], add: bool) -> Resource:
        row = self._vip_folders().get(load_balancer_id)
        if row is None:
            raise CloudError(NOT_FOUND, "NotFound", f"load balancer {load_balancer_id} does not exist")
        targets = set(json.loads(row["tags"].get(TARGETS) or "[]"))
        targets = targets | change if add else targets - change
        self._tag(row["obj"], {TARGETS: json.dumps(sorted(targets))})
        return self._vip_of({**row, "tags": {**row["tags"], TARGETS: json.dumps(sorted(targets))}})

    def register_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        return self._targets(load_balancer_id, set(instance_ids), add=True)

    def deregister_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        return self._targets(load_balancer_id, set(instance_ids), add=False)

    # -- images: VM templates ------------------------------------------------------------------

    def find_images(self, region: str, tags: dict[str, str]) -> list[Resource]:
        return [self._resource(row) for row in self._vms() if row["config.template"]
                and row["tags"].get(REGION) == region and tags.items() <= row["tags"].items()]  # fmt: skip

    def catalog_image(self, region: str, reference: dict[str, Any]) -> str:
        """The template an OS pack names (`os.images.vsphere.template`) in the region's datacenter,
        imported from the pack's OVA (`ova`: an http(s) URL) the first time it is asked for there.
        The caller serializes asks for the same reference (two imports would make two templates)."""
        name = reference.get("template")
        if not name:
            raise CloudError(INVALID, "InvalidParameterValue", "the OS pack names no vSphere template")
        datacenter = self._datacenter(region)
        for row in self.session.collect([vim.VirtualMachine], ["name", "config.template"], datacenter.vmFolder):
            if row["name"] == name and row["config.template"]:
                return row["obj"]._moId
        if reference.get("ova"):
            return ova.import_template(self.session, datacenter, name, reference["ova"], self._tag)._moId
        raise CloudError(INVALID, "InvalidParameterValue", f"no template {name!r} in datacenter {region}")

    def copy_image(self, image_id: str, region: str, tags: dict[str, str], token: str) -> Resource:
        """A clone of the template in the region's datacenter, marked as a template."""
        found = self._by_token(token)
        if found is None:
            datacenter = self._datacenter(region)
            cluster = self._cluster(datacenter, None)
            source = vim.VirtualMachine(image_id, self._stub())
            location = vim.vm.RelocateSpec(pool=cluster.resourcePool, datastore=datacenter.datastore[0])
            spec = vim.vm.CloneSpec(location=location, powerOn=False, template=True)
            clone = self.session.call(lambda _: source.CloneVM_Task(datacenter.vmFolder, vm_name(token), spec))
            vm = self.session.wait(clone)
            self._tag(vm, {**tags, TOKEN: token, REGION: region})
            found = self._by_token(token)
        assert found is not None
        return found

    def create_image(self, instance_id: str, tags: dict[str, str], token: str) -> Resource:
        """The instance powered off and marked as a template (a build's last step)."""
        vm = vim.VirtualMachine(instance_id, self._stub())
        if self.session.call(lambda _: vm.runtime.powerState) != vim.VirtualMachinePowerState.poweredOff:
            self.session.wait(self.session.call(lambda _: vm.PowerOffVM_Task()))
        if not self.session.call(lambda _: vm.config.template):
            self.session.call(lambda _: vm.MarkAsTemplate())
        self._tag(vm, {**tags, TOKEN: token})
        found = self._by_token(token)
        assert found is not None
        return found

    # -- instances -----------------------------------------------------------------------------

    def run_instance(self, launch: LaunchSpec) -> Resource:
        """Clone the template into the cluster's folder and the zone's pool, size it, hand it its
        cloud-init user data (guestinfo), power it on. The VM of the token's name is looked up first, and
        one found powered off (a run killed after its clone) is finished, not cloned again."""
        if launch.instance_type not in self.sizes:
            raise CloudError(INVALID, "InvalidParameterValue", f"unknown instance type {launch.instance_type!r}")
        datacenter = self._datacenter(launch.region)
        name = vm_name(launch.token)
        vm = self._find_vm(datacenter, name)
        if vm is None:
            folder, pool = self._placement(datacenter, launch)
            source = vim.VirtualMachine(launch.image, self._stub())
            spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(pool=pool), powerOn=False, template=False)
            vm = self.session.wait(self.session.call(lambda _: source.CloneVM_Task(folder, name, spec)))
        if self.session.call(lambda _: vm.runtime.powerState) != vim.VirtualMachinePowerState.poweredOn:
            self._tag(vm, {**launch.tags, TOKEN: launch.token, REGION: launch.region, ZONE: launch.zone or ""})
            self._configure(vm, launch)
            self.session.wait(self.session.call(lambda _: vm.PowerOnVM_Task()))
        return self.describe([vm._moId])[0]

    def _placement(self, datacenter: vim.Datacenter, launch: LaunchSpec) -> tuple[vim.Folder, vim.ResourcePool]:
        """The cluster's folder and the zone's pool (ensure_network made them), else the datacenter's."""
        cluster_id = launch.tags.get("strata:cluster")
        for row in self._owned([vim.ResourcePool], ["name", "parent"]):
            tags = row["tags"]
            if cluster_id and tags.get("strata:cluster") == cluster_id and tags.get(ZONE) == launch.zone:
                folder = next((f["obj"] for f in self._owned([vim.Folder], ["name"])
                               if f["tags"].get("strata:cluster") == cluster_id), datacenter.vmFolder)  # fmt: skip
                return folder, row["obj"]
        return datacenter.vmFolder, self._cluster(datacenter, launch.zone).resourcePool

    def _configure(self, vm: vim.VirtualMachine, launch: LaunchSpec) -> None:
        size = self.sizes[launch.instance_type]
        user_data = base64.b64encode(_with_key(launch.user_data, launch.ssh_key).encode()).decode()
        spec = vim.vm.ConfigSpec(numCPUs=size.cpu, memoryMB=size.memory_mib, extraConfig=[
            vim.option.OptionValue(key="guestinfo.userdata", value=user_data),
            vim.option.OptionValue(key="guestinfo.userdata.encoding", value="base64"),
        ])  # fmt: skip
        self.session.wait(self.session.call(lambda _: vm.ReconfigVM_Task(spec)))

    def _find_vm(self, datacenter: vim.Datacenter, name: str) -> vim.VirtualMachine | None:
        rows = self.session.collect([vim.VirtualMachine], ["name"], datacenter.vmFolder)
        return next((row["obj"] for row in rows if row["name"] == name), None)

    def _stub(self) -> Any:
        return self.session.call(lambda content: content.rootFolder._stub)

    def _vms(self) -> list[dict[str, Any]]:
        props = ["name", "config.template", "runtime.powerState", "guest.ipAddress", "config.hardware.numCPU",
                 "config.hardware.memoryMB", "config.createDate"]  # fmt: skip
        return self._owned([vim.VirtualMachine], props)

    def _by_token(self, token: str) -> Resource | None:
        return next((self._resource(row) for row in self._vms() if row["tags"].get(TOKEN) == token), None)

    def _resource(self, row: dict[str, Any]) -> Resource:
        tags = _public(row["tags"])
        template = bool(row.get("config.template"))
        power = str(row.get("runtime.powerState") or "")
        shape = (row.get("config.hardware.numCPU"), row.get("config.hardware.memoryMB"))
        size = next((s.name for s in self.sizes.values() if (s.cpu, s.memory_mib) == shape), None)
        if template:
            state, native = READY, "template"
        else:
            state, native = (READY if power == "poweredOn" else PENDING), power
        spec = {"name": row.get("name"), "privateIp": row.get("guest.ipAddress"), "instanceType": size}
        kind, zone = ("image" if template else "instance"), row["tags"].get(ZONE) or None
        return Resource(row["obj"]._moId, kind, row["tags"].get(REGION, ""), zone, state, spec, tags,
                        row.get("config.createDate"), native)  # fmt: skip

    def describe(self, ids: list[str]) -> list[Resource]:
        """Each id's resource as vCenter has it now; what is gone is GONE."""
        known = {row["obj"]._moId: row for row in self._vms()}
        vips = self._vip_folders()
        described = []
        for resource_id in ids:
            if resource_id in known:
                described.append(self._resource(known[resource_id]))
            elif resource_id in vips:
                described.append(self._vip_of(vips[resource_id]))
            else:
                described.append(Resource(resource_id, "unknown", "", None, GONE))
        return described

    def change_instance_type(self, instance_id: str, instance_type: str) -> Resource:
        size = self.sizes.get(instance_type)
        if size is None:
            raise CloudError(INVALID, "InvalidParameterValue", f"unknown instance type {instance_type!r}")
        vm = vim.VirtualMachine(instance_id, self._stub())
        if self.session.call(lambda _: vm.runtime.powerState) == vim.VirtualMachinePowerState.poweredOn:
            self.session.wait(self.session.call(lambda _: vm.PowerOffVM_Task()))
        spec = vim.vm.ConfigSpec(numCPUs=size.cpu, memoryMB=size.memory_mib)
        self.session.wait(self.session.call(lambda _: vm.ReconfigVM_Task(spec)))
        self.session.wait(self.session.call(lambda _: vm.PowerOnVM_Task()))
        return self.describe([instance_id])[0]

    # -- delete and ownership ------------------------------------------------------------------

    def delete(self, resource_id: str) -> None:
        """Power off and destroy a VM or template, release a virtual IP, destroy a pool or a folder
        (with what is in it); what is gone already is no error."""
        try:
            if resource_id.startswith("vip-"):  # released from its folder, unless the folder is gone with it
                row = self._vip_folders().get(resource_id)
                if row is not None:
                    self._tag(row["obj"], {VIP: "", TARGETS: ""})
                return
            entity = self._entity(resource_id)
            if isinstance(entity, vim.VirtualMachine):
                power = self.session.call(lambda _: entity.runtime.powerState)
                if power == vim.VirtualMachinePowerState.poweredOn:
                    self.session.wait(self.session.call(lambda _: entity.PowerOffVM_Task()))
            self.session.wait(self.session.call(lambda _: entity.Destroy_Task()))
        except CloudError as err:
            if err.kind != NOT_FOUND:
                raise

    def _entity(self, resource_id: str) -> Any:
        kind = vim.VirtualMachine if resource_id.startswith("vm-") else (
            vim.ResourcePool if resource_id.startswith("resgroup-") else vim.Folder)  # fmt: skip
        return kind(resource_id, self._stub())

    def list_owned(self, tags: TagFilter, kinds: tuple[str, ...] | None = None) -> list[Resource]:
        def matches(found: dict[str, str]) -> bool:
            return all(found.get(k) in (v if isinstance(v, tuple) else (v,)) for k, v in tags.items())

        owned = [self._resource(row) for row in self._vms() if matches(row["tags"])]
        for row in self._owned([vim.Folder], ["name"]):
            if matches(row["tags"]):
                region = row["tags"].get(REGION, "")
                owned.append(Resource(row["obj"]._moId, "network", region, None, READY, {}, _public(row["tags"])))
                if row["tags"].get(VIP):
                    owned.append(self._vip_of(row))
        for row in self._owned([vim.ResourcePool], ["name"]):
            if matches(row["tags"]):
                owned.append(Resource(row["obj"]._moId, "resource_pool", row["tags"].get(REGION, ""),
                                      row["tags"].get(ZONE) or None, READY, {}, _public(row["tags"])))  # fmt: skip
        return [r for r in owned if kinds is None or r.kind in kinds]

    def builder_connection(self, builder: Resource, user: str | None = None) -> dict[str, str]:
        if self.builder_ssh:  # a stand-in: its VMs are not machines, a real sshd stands in
            return builder_over_stand_in_ssh(self.builder_ssh, builder.id, user)
        address = builder.spec.get("privateIp")
        if not address:
            raise CloudError(CONFLICT, "NoAddress", f"VM {builder.id} reports no guest address yet")
        return {"ansible_connection": "ssh", "ansible_host": address, "ansible_port": "22",
                "ansible_user": user or "ubuntu", "image_root": "/"}  # fmt: skip

    def poll_delay(self, resource: Resource) -> float:
        typical = TYPICAL_SECONDS.get(resource.kind, 5.0)
        if resource.created_at is None:
            return max(1.0, typical / 10)
        age = time.time() - resource.created_at.timestamp()
        return max(1.0, min(30.0, (typical - age) / 4 if age < typical else typical / 10))
