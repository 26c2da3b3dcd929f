"""An Azure Resource Manager stand-in, as a real HTTPS process: `python tests/arm_server.py PORT FOLDER`
(FOLDER holds its certificate, `arm.crt`, which is its own CA). No emulator of Azure compute or network
runs offline (Azurite is storage only), so this serves exactly the calls Strata's Azure driver makes,
shaped as ARM shapes them; tests/azure_support.py starts it and drives its levers.

Where each behaviour comes from (Azure/azure-rest-api-specs, specification/...):
- long-running operations: resourcemanager's `async-api-reference.md` and the ARM RPC
  (`common-types/resource-management`): a PUT that creates answers 201 (an update 200) with the
  resource in a non-terminal `provisioningState` and an `Azure-AsyncOperation` header; DELETE answers
  202 with `Location` and `Azure-AsyncOperation` (204 when there is nothing to delete); the operation
  status resource answers {"status": "InProgress"|"Succeeded"|"Failed", "error"}; `Location` answers 202
  until done, then 200; each carries `Retry-After`;
- errors: `common-types/.../types.json#/definitions/ErrorResponse`, {"error": {"code", "message",
  "details"}}; throttling is 429 with `Retry-After` (ARM's request limits document);
- compute (`compute/resource-manager/Microsoft.Compute/ComputeRP`): VM quota refusals are 409
  `OperationNotAllowed` naming the Total Regional Cores quota, an unavailable size 409 `SkuNotAvailable`;
  `deleteOption` on a VM's NIC and OS disk deletes them with it; `generalize` is synchronous,
  `deallocate` long-running; gallery image versions replicate to `publishingProfile.targetRegions`
  (`replicationStatus` with `$expand=ReplicationStatus`);
- network (`network/resource-manager/Microsoft.Network`): provisioningState `Updating` → `Succeeded`;
  child resources (subnets, security rules, a load balancer's parts, IP configurations) get ids under
  their parent; an NSG lists its `defaultSecurityRules`; a NIC in a load balancer's backend pool shows in
  the pool's `backendIPConfigurations`; what is in use cannot be deleted (400 `InUse...`);
- resources (`resources/resource-manager/Microsoft.Resources/resources/stable/2024-03-01/resources.json`):
  `resources` and `resourcegroups` lists take `$filter=tagName eq 'k' and tagValue eq 'v'` (the
  `resources` list then leaves every resource's tags out, and shows `provisioningState` only with
  `$expand=provisioningState`); lists page with `nextLink`; a resource group's delete (200 or 202 with
  `Location`) takes everything in it;
- identity: the Microsoft identity platform's OpenID configuration and its client-credentials token
  endpoint (AADSTS codes as it words them), so azure-identity's ClientSecretCredential runs unchanged.

Where it differs from ARM (the driver must not depend on any of it): the resources list is strongly
consistent (ARM's lags seconds behind a PUT), no RBAC beyond "this principal owns these subscriptions",
one OS disk and no data disks, no extensions, and VMs do not run: a VM "boots" only for the sshd that
stands in for image builders (its SSH keys appended to STRATA_ARM_AUTHORIZED_KEYS, a root folder per VM
under STRATA_ARM_INSTANCE_ROOTS).

Levers (no authentication, under /_strata/): faults per operation ("PUT virtualMachines", "POST token",
...: code, message, status, count or rate, retryAfter, `when` body values), call counts per operation
with the retries that came before a 429's Retry-After had passed, the regional cores quota, restricted
sizes, page size and latency scale.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import random
import re
import ssl
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

SIZES = {"Standard_B2s": 2, "Standard_D2s_v5": 2, "Standard_D4s_v5": 4, "Standard_D8s_v5": 8, "Standard_F4s_v2": 4}
LOCATIONS = ("eastus", "westeurope", "northeurope")
MARKETPLACE = {  # publisher, offer, sku -> versions (every location has them)
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"): ["22.04.202408010", "22.04.202410020"],
    ("canonical", "ubuntu-24_04-lts", "server"): ["24.04.202410040"],
    ("redhat", "rhel", "9-lvm-gen2"): ["9.4.2024060514"],
}
LATENCY = {"virtualmachines": 1.0, "versions": 1.5, "loadbalancers": 0.4, "publicipaddresses": 0.3,
           "resourcegroups": 0.5}  # fmt: skip
DEFAULT_LATENCY = 0.2
CHILD_LISTS = ("subnets", "securityRules", "frontendIPConfigurations", "backendAddressPools", "probes",
               "loadBalancingRules", "ipConfigurations")  # fmt: skip
COMPUTE_STATES = ("Creating", "Updating", "Deleting")  # compute's words; network says Updating for all
QUOTA_MESSAGE = (
    "Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Additional "
    "details - Deployment Model: Resource Manager, Location: {location}, Current Limit: {limit}, Current Usage: "
    "{usage}, Additional Required: {more}, (Minimum) New Limit Required: {needed}. Submit a request for Quota "
    "increase at https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView by "
    "specifying parameters listed in the 'Details' section for deployment to succeed. Please read more about quota "
    "limits at https://docs.microsoft.com/en-us/azure/azure-supportability/regional-quota-requests"
)
DEFAULT_RULES = [  # every NSG's, as ARM lists them (defaultSecurityRules)
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer"),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*"),
]


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def now_text() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Arm:
    """ARM's state: resources by lower-cased id (ARM ids are case-insensitive), operations, principals."""

    def __init__(self, base: str, clients: list[dict[str, str]], keys: Path | None, roots: Path | None):
        self.base = base
        self.clients = clients
        self.keys, self.roots = keys, roots
        self.lock = threading.RLock()
        self.resources: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, str]] = {}
        self.faults: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.early: Counter[str] = Counter()
        self.throttled_until: dict[str, float] = {}
        self.quota: dict[str, int] = dict.fromkeys(LOCATIONS, 100)
        self.restricted: set[tuple[str, str]] = set()  # (location, size) not offered
        self.page_size = 100
        self.scale = 1.0
        self.random = random.Random(22)
        self.next_ip = 0

    # -- levers ----------------------------------------------------------------------------------

    def fire(self, operation: str, path: str, body: dict[str, Any]) -> None:
        """Count the call; answer an injected fault, or 429 again to a retry of a throttled request (the same
        operation on the same path) that came before its Retry-After had passed."""
        with self.lock:
            self.calls[operation] += 1
            until = self.throttled_until.get(f"{operation} {path}", 0.0)
            if time.monotonic() < until:
                self.early[operation] += 1
                raise ArmError(429, "TooManyRequests", "retried before Retry-After had passed",
                               {"Retry-After": str(max(1, round(until - time.monotonic())))})  # fmt: skip
            for fault in self.faults:
                if fault["operation"] not in (operation, "*") or not _matches(body, fault.get("when") or {}):
                    continue
                if fault.get("count", 0) <= 0 and self.random.random() >= fault.get("rate", 0.0):
                    continue
                fault["count"] = fault.get("count", 0) - 1
                if fault["count"] <= 0 and not fault.get("rate"):
                    self.faults.remove(fault)
                headers = {}
                if fault.get("retryAfter") is not None:
                    headers["Retry-After"] = str(fault["retryAfter"])
                    self.throttled_until[f"{operation} {path}"] = time.monotonic() + float(fault["retryAfter"])
                raise ArmError(fault.get("status", 400), fault["code"], fault["message"], headers)

    # -- identity --------------------------------------------------------------------------------

    def token(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        known = [c for c in self.clients if c["tenant"] == tenant]
        if not known:
            raise IdentityError(
                400,
                "invalid_tenant",
                f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure "
                "you have the correct tenant ID and are signing into the correct cloud.",
                90002,
            )
        client = next((c for c in known if c["client"] == form.get("client_id")), None)
        if client is None:
            raise IdentityError(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier "
                f"'{form.get('client_id')}' was not found in the directory '{tenant}'.",
                700016,
            )
        if form.get("client_secret") != client["secret"]:
            raise IdentityError(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the "
                "secret being sent in the request is the client secret value, not the client secret "
                f"ID, for a secret added to app '{client['client']}'.",
                7000215,
            )
        if form.get("grant_type") != "client_credentials":
            raise IdentityError(
                400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.", 70003
            )
        token = uuid.uuid4().hex + uuid.uuid4().hex
        with self.lock:
            self.tokens[token] = client
        return {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}

    def principal(self, header: str | None) -> dict[str, str]:
        token = (header or "").removeprefix("Bearer ").strip()
        with self.lock:
            client = self.tokens.get(token)
        if client is None:
            raise ArmError(401, "InvalidAuthenticationToken" if token else "AuthenticationFailed",
                           "The access token is invalid." if token else
                           "Authentication failed. The 'Authorization' header is missing.",
                           {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/", '
                                                'error="invalid_token"'})  # fmt: skip
        return client

    # -- time ------------------------------------------------------------------------------------

    def settle(self) -> None:
        """Finish every operation whose time has come (ARM's back end, run lazily on each request)."""
        at = time.monotonic()
        with self.lock:
            for op in self.operations.values():
                if op["status"] == "InProgress" and op["at"] <= at:
                    op["status"] = "Succeeded"
                    op["endTime"] = now_text()
                    op["apply"]()

    def operation(self, location: str, namespace: str, key: str, delay: float, apply: Any) -> dict[str, str]:
        """A long-running operation done after `delay` seconds (times the scale), and its headers."""
        op_id = str(uuid.uuid4())
        self.operations[op_id] = {"status": "InProgress", "at": time.monotonic() + delay * self.scale,
                                  "apply": apply, "startTime": now_text(), "key": key}  # fmt: skip
        sub = key.split("/")[2]
        where = f"{self.base}/subscriptions/{sub}/providers/{namespace}/locations/{location}"
        return {
            "Azure-AsyncOperation": f"{where}/operations/{op_id}?api-version=2024-01-01",
            "Location": f"{where}/operationResults/{op_id}?api-version=2024-01-01",
            "Retry-After": "1",
        }

    def operation_status(self, op_id: str) -> dict[str, Any]:
        op = self.operations.get(op_id)
        if op is None:
            raise ArmError(404, "ResourceNotFound", f"operation {op_id} was not found")
        answer = {"id": op_id, "name": op_id, "status": op["status"], "startTime": op["startTime"]}
        if op["status"] != "InProgress":
            answer["endTime"] = op["endTime"]
        return answer

    # -- resources -------------------------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any]:
        found = self.resources.get(key.lower()) or self._child(key)
        if found is None:
            group = "/".join(key.split("/")[:5]).lower()
            if key.count("/") >= 4 and group not in self.resources:
                raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{key.split('/')[4]}' could not be "
                                                             "found.")  # fmt: skip
            kind, name = _type_of(key), key.rstrip("/").split("/")[-1]
            raise ArmError(404, "ResourceNotFound", f"The Resource '{kind}/{name}' under resource group "
                           f"'{key.split('/')[4] if key.count('/') > 4 else ''}' was not found. For more details "
                           "please go to https://aka.ms/ARMResourceNotFoundFix")  # fmt: skip
        return found

    def _child(self, key: str) -> dict[str, Any] | None:
        parent = key.rstrip("/").rsplit("/", 2)[0]
        owner = self.resources.get(parent.lower())
        if owner is None:
            return None
        for child in _children(owner):
            if child["id"].lower() == key.lower():
                return child
        return None

    def exists(self, key: str) -> bool:
        return key.lower() in self.resources or self._child(key) is not None

    def put(self, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        parts = key.split("/")
        if len(parts) == 5:  # a resource group: synchronous
            return self._put_group(key, body)
        group = "/".join(parts[:5]).lower()
        if group not in self.resources:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{parts[4]}' could not be found.")
        if self.resources[group]["properties"]["provisioningState"] == "Deleting":
            raise ArmError(409, "ResourceGroupBeingDeleted", f"The resource group '{parts[4]}' is in deprovisioning "
                                                             "state and cannot perform this operation.")  # fmt: skip
        kind = _type_of(key)
        old = self.resources.get(key.lower())
        if old and old["properties"].get("provisioningState") == "Deleting":
            raise ArmError(409, "Conflict", f"{kind.split('/')[-1]} {parts[-1]} is being deleted")
        if old and _same(old, body):  # PUT is idempotent: the same body changes nothing
            return 200, old, {}
        resource = _prepare(key, kind, body, old)
        short = kind.split("/")[-1].lower()
        validate = getattr(self, f"_check_{short}", None)
        if validate:
            validate(resource, old)
        compute = kind.startswith("Microsoft.Compute")
        resource["properties"]["provisioningState"] = ("Updating" if old else "Creating") if compute else "Updating"
        self.resources[key.lower()] = resource
        made = getattr(self, f"_made_{short}", None)
        if made:
            made(resource, old)

        def done() -> None:
            kept = self.resources.get(key.lower())
            if kept is resource:
                resource["properties"]["provisioningState"] = "Succeeded"
                finish = getattr(self, f"_done_{short}", None)
                if finish:
                    finish(resource)

        headers = self.operation(resource.get("location") or "eastus", kind.split("/")[0], key,
                                 LATENCY.get(short, DEFAULT_LATENCY), done)  # fmt: skip
        return (200 if old else 201), resource, headers

    def _put_group(self, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        old = self.resources.get(key.lower())
        if old and old["properties"]["provisioningState"] == "Deleting":
            raise ArmError(
                409,
                "ResourceGroupBeingDeleted",
                f"The resource group '{key.split('/')[4]}' is in "
                "deprovisioning state and cannot perform this operation.",
            )
        if not body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        if old and old["location"] != body["location"].lower():
            raise ArmError(409, "InvalidResourceGroupLocation", f"Invalid resource group location "
                           f"'{body['location']}'. The Resource group already exists in location "
                           f"'{old['location']}'.")  # fmt: skip
        group = {"id": key, "name": key.split("/")[4], "type": "Microsoft.Resources/resourceGroups",
                 "location": body["location"].lower(), "tags": body.get("tags") or {},
                 "properties": {"provisioningState": "Succeeded"}}  # fmt: skip
        self.resources[key.lower()] = group
        return (200 if old else 201), group, {}

    def patch(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        resource = self.get(key)
        if "tags" in body:
            resource["tags"] = body["tags"] or {}
        return resource

    def delete(self, key: str) -> tuple[int, dict[str, str]]:
        resource = self.resources.get(key.lower())
        if resource is None:
            return 204, {}
        if resource["properties"].get("provisioningState") == "Deleting":
            return 202, self._deleting_headers(key)
        short = resource["type"].split("/")[-1].lower()
        check = getattr(self, f"_deletable_{short}", None)
        if check:
            check(resource)
        resource["properties"]["provisioningState"] = "Deleting"
        if short == "resourcegroups":
            inside = [k for k in self.resources if k.startswith(key.lower() + "/")]
            for k in inside:
                self.resources[k]["properties"]["provisioningState"] = "Deleting"

            def gone() -> None:
                for k in [*inside, key.lower()]:
                    self.resources.pop(k, None)

            headers = self.operation(resource["location"], "Microsoft.Resources", key, LATENCY["resourcegroups"], gone)
            resource["_deleting"] = headers
            return 202, headers

        def removed() -> None:
            self.resources.pop(key.lower(), None)
            forget = getattr(self, f"_deleted_{short}", None)
            if forget:
                forget(resource)

        headers = self.operation(resource.get("location") or "eastus", resource["type"].split("/")[0], key,
                                 LATENCY.get(short, DEFAULT_LATENCY), removed)  # fmt: skip
        resource["_deleting"] = headers
        return 202, headers

    def _deleting_headers(self, key: str) -> dict[str, str]:
        resource = self.resources[key.lower()]
        if "_deleting" in resource:
            return resource["_deleting"]
        group = self.resources["/".join(key.split("/")[:5]).lower()]
        return group.get("_deleting", {})

    def listing(self, scope: str, kind: str | None, query: dict[str, str]) -> list[dict[str, Any]]:
        """Resources under `scope` (a subscription or a group), of `kind` if given, by `$filter`."""
        prefix = scope.lower() + "/"
        found = [r for k, r in self.resources.items() if k.startswith(prefix)]
        if kind == "Microsoft.Resources/resourceGroups":
            found = [r for r in found if r["type"] == kind]
        elif kind:
            found = [r for r in found if r["type"].lower() == kind.lower()]
        else:  # the `resources` list: tracked resources with a location, not groups nor a gallery's children
            found = [r for r in found if r["type"] != "Microsoft.Resources/resourceGroups"
                     and r["type"].count("/") == 1]  # fmt: skip
        wanted = query.get("$filter", "")
        if wanted:
            match = re.fullmatch(r"\s*tagName eq '([^']*)'(?:\s+and\s+tagValue eq '([^']*)')?\s*", wanted)
            if match is None:
                raise ArmError(400, "InvalidFilterInQueryString", f"The filter '{wanted}' is invalid: a tag filter "
                               "is `tagName eq 'name'` with an optional `and tagValue eq 'value'`.")  # fmt: skip
            name, value = match.groups()
            found = [r for r in found if name in (r.get("tags") or {})
                     and (value is None or r["tags"][name] == value)]  # fmt: skip
        return sorted(found, key=lambda r: r["id"].lower())

    # -- resource kinds: checks before a PUT is taken, effects when it is, and when it is done ------

    def _reference(self, ref: dict[str, Any] | None, what: str) -> None:
        if ref and ref.get("id") and not self.exists(ref["id"]):
            raise ArmError(400, "InvalidResourceReference", f"Resource {ref['id']} referenced by {what} was not "
                                                            "found.")  # fmt: skip

    def _check_virtualnetworks(self, vnet: dict[str, Any], old: dict | None) -> None:
        space = vnet["properties"].get("addressSpace", {})
        spaces = [ipaddress.ip_network(p) for p in space.get("addressPrefixes", [])]
        for subnet in vnet["properties"].get("subnets", []):
            prefix = ipaddress.ip_network(subnet["properties"]["addressPrefix"])
            if not any(prefix.subnet_of(space) for space in spaces):
                raise ArmError(400, "NetcfgSubnetRangeOutsideVnet", f"Subnet '{subnet['name']}' is not valid because "
                               f"its IP address range is outside the IP address range of virtual network "
                               f"'{vnet['name']}'.")  # fmt: skip

    def _check_networksecuritygroups(self, nsg: dict[str, Any], old: dict | None) -> None:
        seen: set[tuple[str, int]] = set()
        for rule in nsg["properties"].get("securityRules", []):
            p = rule["properties"]
            if not 100 <= int(p.get("priority", 0)) <= 4096:
                raise ArmError(400, "SecurityRuleInvalidPriority", f"Security rule {rule['name']} has invalid "
                               "Priority. Value provided: {p.get('priority')} Allowed range 100-4096.")  # fmt: skip
            if (p["direction"], int(p["priority"])) in seen:
                raise ArmError(400, "SecurityRuleConflict", f"Security rule {rule['name']} conflicts with another rule "
                               f"of the same priority {p['priority']} and direction {p['direction']}.")  # fmt: skip
            seen.add((p["direction"], int(p["priority"])))
            for group in p.get("sourceApplicationSecurityGroups", []):
                self._reference(group, f"security rule {rule['name']}")

    def _made_networksecuritygroups(self, nsg: dict[str, Any], old: dict | None) -> None:
        nsg["properties"]["defaultSecurityRules"] = [
            {"id": f"{nsg['id']}/defaultSecurityRules/{name}", "name": name,
             "properties": {"priority": priority, "direction": direction, "access": access, "protocol": "*",
                            "sourceAddressPrefix": source, "sourcePortRange": "*", "destinationAddressPrefix": "*",
                            "destinationPortRange": "*", "provisioningState": "Succeeded"}}
            for name, priority, direction, access, source in DEFAULT_RULES
        ]  # fmt: skip

    def _made_publicipaddresses(self, ip: dict[str, Any], old: dict | None) -> None:
        if old and old["properties"].get("ipAddress"):
            ip["properties"]["ipAddress"] = old["properties"]["ipAddress"]
        else:
            self.next_ip += 1
            ip["properties"]["ipAddress"] = str(ipaddress.ip_address("20.0.0.0") + self.next_ip)
        label = (ip["properties"].get("dnsSettings") or {}).get("domainNameLabel")
        if label:
            ip["properties"]["dnsSettings"]["fqdn"] = f"{label}.{ip['location']}.cloudapp.azure.com"

    def _check_loadbalancers(self, lb: dict[str, Any], old: dict | None) -> None:
        for frontend in lb["properties"].get("frontendIPConfigurations", []):
            self._reference(frontend["properties"].get("publicIPAddress"), f"frontend {frontend['name']}")

    def _made_loadbalancers(self, lb: dict[str, Any], old: dict | None) -> None:
        for pool in lb["properties"].get("backendAddressPools", []):
            pool["properties"]["backendIPConfigurations"] = self._pool_members(pool["id"])

    def _pool_members(self, pool_id: str) -> list[dict[str, str]]:
        members = []
        for nic in self._of_type("Microsoft.Network/networkInterfaces"):
            for config in nic["properties"].get("ipConfigurations", []):
                pools = config["properties"].get("loadBalancerBackendAddressPools") or []
                if any(p["id"].lower() == pool_id.lower() for p in pools):
                    members.append({"id": config["id"]})
        return members

    def _reflect_pools(self) -> None:
        for lb in self._of_type("Microsoft.Network/loadBalancers"):
            self._made_loadbalancers(lb, None)

    def _check_networkinterfaces(self, nic: dict[str, Any], old: dict | None) -> None:
        self._reference(nic["properties"].get("networkSecurityGroup"), f"network interface {nic['name']}")
        for config in nic["properties"].get("ipConfigurations", []):
            p = config["properties"]
            if not (p.get("subnet") or {}).get("id"):
                raise ArmError(400, "InvalidRequestFormat", f"IP configuration {config['name']} has no subnet.")
            self._reference(p["subnet"], f"IP configuration {config['name']}")
            for ref in [p.get("publicIPAddress"), *p.get("applicationSecurityGroups", []),
                        *p.get("loadBalancerBackendAddressPools", [])]:  # fmt: skip
                self._reference(ref, f"IP configuration {config['name']}")

    def _made_networkinterfaces(self, nic: dict[str, Any], old: dict | None) -> None:
        if old and old["properties"].get("virtualMachine"):
            nic["properties"]["virtualMachine"] = old["properties"]["virtualMachine"]
        for i, config in enumerate(nic["properties"].get("ipConfigurations", [])):
            before = next((c for c in (old or {}).get("properties", {}).get("ipConfigurations", [])
                           if c["name"] == config["name"]), None)  # fmt: skip
            if before and before["properties"].get("privateIPAddress"):
                config["properties"]["privateIPAddress"] = before["properties"]["privateIPAddress"]
            else:
                subnet = self.get(config["properties"]["subnet"]["id"])
                network = ipaddress.ip_network(subnet["properties"]["addressPrefix"])
                used = {
                    c["properties"].get("privateIPAddress")
                    for n in self._of_type("Microsoft.Network/networkInterfaces")
                    for c in n["properties"].get("ipConfigurations", [])
                }
                address = next(str(a) for a in list(network.hosts())[3 + i :] if str(a) not in used)  # Azure keeps 4
                config["properties"]["privateIPAddress"] = address
            config["properties"]["privateIPAllocationMethod"] = "Dynamic"
        self._reflect_pools()

    def _deletable_networkinterfaces(self, nic: dict[str, Any]) -> None:
        vm = nic["properties"].get("virtualMachine")
        if vm and self.resources.get(vm["id"].lower()):
            raise ArmError(400, "NicInUse", f"Network Interface {nic['id']} is used by existing resource "
                           f"{vm['id']}. In order to delete the network interface, it must be dissociated from the "
                           "resource. To learn more, see aka.ms/deletenic.")  # fmt: skip

    def _deleted_networkinterfaces(self, nic: dict[str, Any]) -> None:
        self._reflect_pools()

    def _deletable_networksecuritygroups(self, nsg: dict[str, Any]) -> None:
        for nic in self._of_type("Microsoft.Network/networkInterfaces"):
            if (nic["properties"].get("networkSecurityGroup") or {}).get("id", "").lower() == nsg["id"].lower():
                raise ArmError(400, "InUseNetworkSecurityGroupCannotBeDeleted", f"Network security group "
                               f"{nsg['id']} cannot be deleted because it is in use by the following resources: "
                               f"{nic['id']}.")  # fmt: skip

    def _deletable_virtualnetworks(self, vnet: dict[str, Any]) -> None:
        for nic in self._of_type("Microsoft.Network/networkInterfaces"):
            for config in nic["properties"].get("ipConfigurations", []):
                if config["properties"]["subnet"]["id"].lower().startswith(vnet["id"].lower() + "/"):
                    raise ArmError(400, "InUseSubnetCannotBeDeleted", f"Subnet {config['properties']['subnet']['id']}"
                                   f" is in use by {config['id']} and cannot be deleted.")  # fmt: skip

    def _deletable_publicipaddresses(self, ip: dict[str, Any]) -> None:
        users = [
            c["id"]
            for n in self._of_type("Microsoft.Network/networkInterfaces")
            for c in n["properties"].get("ipConfigurations", [])
            if (c["properties"].get("publicIPAddress") or {}).get("id", "").lower() == ip["id"].lower()
        ]
        users += [
            f["id"]
            for lb in self._of_type("Microsoft.Network/loadBalancers")
            for f in lb["properties"].get("frontendIPConfigurations", [])
            if (f["properties"].get("publicIPAddress") or {}).get("id", "").lower() == ip["id"].lower()
        ]
        if users:
            raise ArmError(400, "PublicIPAddressCannotBeDeleted", f"Public IP address {ip['id']} can not be deleted "
                           f"since it is still allocated to resource {users[0]}.")  # fmt: skip

    def _check_virtualmachines(self, vm: dict[str, Any], old: dict | None) -> None:
        p, location = vm["properties"], vm["location"]
        size = p.get("hardwareProfile", {}).get("vmSize", "")
        if size not in SIZES:
            raise ArmError(400, "InvalidParameter", f"The value {size} provided for the VM size is not valid. The "
                           "valid sizes in the current region are: " + ", ".join(SIZES) + ".")  # fmt: skip
        zones = vm.get("zones") or []
        if (location, size) in self.restricted:
            raise ArmError(409, "SkuNotAvailable", f"The requested VM size for resource 'Following SKUs have failed "
                           f"for Capacity Restrictions: {size}' is currently not available in location '{location}'"
                           f"{' zones ' + repr(','.join(zones)) if zones else ''}. Please try another size or "
                           "deploy to a different location or different zone. See https://aka.ms/azureskunotavailable "
                           "for details.")  # fmt: skip
        usage = sum(SIZES[r["properties"]["hardwareProfile"]["vmSize"]]
                    for r in self._of_type("Microsoft.Compute/virtualMachines")
                    if r["location"] == location and r["id"].lower() != vm["id"].lower()
                    and r["properties"].get("provisioningState") != "Deleting")  # fmt: skip
        more, limit = SIZES[size], self.quota.get(location, 0)
        if usage + more > limit:
            raise ArmError(409, "OperationNotAllowed", QUOTA_MESSAGE.format(
                location=location, limit=limit, usage=usage, more=more, needed=usage + more))  # fmt: skip
        if old:
            return
        image = p.get("storageProfile", {}).get("imageReference") or {}
        if image.get("id"):
            version = self.resources.get(image["id"].lower())
            regions = [
                t["name"].lower().replace(" ", "")
                for t in (version or {}).get("properties", {}).get("publishingProfile", {}).get("targetRegions", [])
            ]
            if version is None or location not in regions:
                raise ArmError(404, "GalleryImageNotFound", f"The gallery image {image['id']} is not available in "
                                                            f"{location} region.")  # fmt: skip
        else:
            key = (str(image.get("publisher", "")).lower(), str(image.get("offer", "")).lower(),
                   str(image.get("sku", "")).lower())  # fmt: skip
            versions = MARKETPLACE.get(key, [])
            if image.get("version") not in [*versions, "latest"] or not versions:
                raise ArmError(404, "PlatformImageNotFound", f"The platform image '{image.get('publisher')}:"
                               f"{image.get('offer')}:{image.get('sku')}:{image.get('version')}' is not available. "
                               "Verify that all fields in the storage profile are correct.")  # fmt: skip
        for ref in p.get("networkProfile", {}).get("networkInterfaces", []):
            nic = self.get(ref["id"]) if self.exists(ref["id"]) else None
            if nic is None:
                raise ArmError(400, "InvalidResourceReference", f"Resource {ref['id']} referenced by resource "
                                                                f"{vm['id']} was not found.")  # fmt: skip
            attached = nic["properties"].get("virtualMachine")
            if attached and attached["id"].lower() != vm["id"].lower() and self.resources.get(attached["id"].lower()):
                raise ArmError(400, "NicInUse", f"Network Interface {nic['id']} is used by existing resource "
                                                f"{attached['id']}.")  # fmt: skip

    def _made_virtualmachines(self, vm: dict[str, Any], old: dict | None) -> None:
        p = vm["properties"]
        if old:
            p["vmId"], p["timeCreated"] = old["properties"]["vmId"], old["properties"]["timeCreated"]
            vm["_power"], vm["_generalized"] = old.get("_power", "running"), old.get("_generalized", False)
            p["storageProfile"]["osDisk"] = old["properties"]["storageProfile"]["osDisk"]
            return
        p["vmId"], p["timeCreated"], vm["_power"], vm["_generalized"] = str(uuid.uuid4()), now_text(), "starting", False
        for ref in p.get("networkProfile", {}).get("networkInterfaces", []):
            self.get(ref["id"])["properties"]["virtualMachine"] = {"id": vm["id"]}
        disk = p["storageProfile"].setdefault("osDisk", {})
        disk_name = disk.get("name") or f"{vm['name']}_OsDisk_1_{uuid.uuid4().hex}"
        group = "/".join(vm["id"].split("/")[:5])
        disk_id = f"{group}/providers/Microsoft.Compute/disks/{disk_name}"
        disk.update({"name": disk_name, "managedDisk": {**disk.get("managedDisk", {}), "id": disk_id}})
        self.resources[disk_id.lower()] = {"id": disk_id, "name": disk_name, "type": "Microsoft.Compute/disks",
                                           "location": vm["location"], "tags": {}, "zones": vm.get("zones"),
                                           "properties": {"provisioningState": "Succeeded", "diskState": "Attached",
                                                          "diskSizeGB": disk.get("diskSizeGB", 30)}}  # fmt: skip
        self._boot(vm)

    def _done_virtualmachines(self, vm: dict[str, Any]) -> None:
        if vm.get("_power") == "starting":
            vm["_power"] = "running"

    def _deleted_virtualmachines(self, vm: dict[str, Any]) -> None:
        """What goes with a VM: its NICs and OS disk where their deleteOption says Delete (else they stay, detached)."""
        p = vm["properties"]
        for ref in p.get("networkProfile", {}).get("networkInterfaces", []):
            nic = self.resources.get(ref["id"].lower())
            if nic is None:
                continue
            if (ref.get("properties") or {}).get("deleteOption") == "Delete":
                self.resources.pop(ref["id"].lower(), None)
            else:
                nic["properties"].pop("virtualMachine", None)
        disk = p["storageProfile"]["osDisk"]
        if disk.get("deleteOption") == "Delete":
            self.resources.pop(disk["managedDisk"]["id"].lower(), None)
        elif disk["managedDisk"]["id"].lower() in self.resources:
            self.resources[disk["managedDisk"]["id"].lower()]["properties"]["diskState"] = "Unattached"
        self._reflect_pools()

    def _boot(self, vm: dict[str, Any]) -> None:
        """What cloud-init does at first boot, for the sshd standing in for the VM: its keys, its root folder."""
        linux = vm["properties"].get("osProfile", {}).get("linuxConfiguration") or {}
        keys = [k["keyData"] for k in (linux.get("ssh") or {}).get("publicKeys", [])]
        if self.keys and keys:
            with open(self.keys, "a") as authorized:
                authorized.writelines(f"{key.strip()}\n" for key in keys)
        if self.roots:
            etc = self.roots / vm["name"] / "etc"
            for folder in ("sysctl.d", "ssh", "audit", "modules-load.d"):
                (etc / folder).mkdir(parents=True, exist_ok=True)
            (etc / "os-release").write_text('ID=ubuntu\nVERSION_ID="22.04"\n')
            (etc / "lsb-release").write_text("DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\n")

    def action(self, key: str, verb: str) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        vm = self.get(key)
        if verb == "generalize":
            if vm["_power"] not in ("deallocated", "stopped"):
                raise ArmError(409, "OperationNotAllowed", f"Operation 'generalize' is not allowed on VM "
                                                           f"'{vm['name']}' since the VM is running.")  # fmt: skip
            vm["_generalized"] = True
            return 200, None, {}
        if verb in ("deallocate", "powerOff", "start"):
            vm["_power"] = {"deallocate": "deallocating", "powerOff": "stopping", "start": "starting"}[verb]
            final = {"deallocate": "deallocated", "powerOff": "stopped", "start": "running"}[verb]

            def done() -> None:
                vm["_power"] = final

            return 202, None, self.operation(vm["location"], "Microsoft.Compute", key, 0.5, done)
        raise ArmError(400, "InvalidRequestUri", f"no action {verb} on virtual machines")

    def instance_view(self, vm: dict[str, Any]) -> dict[str, Any]:
        power = vm.get("_power", "running")
        return {"statuses": [
            {"code": f"ProvisioningState/{vm['properties']['provisioningState'].lower()}", "level": "Info"},
            {"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"},
        ]}  # fmt: skip

    def _check_versions(self, version: dict[str, Any], old: dict | None) -> None:
        source = version["properties"].get("storageProfile", {}).get("source", {})
        vm_id = source.get("virtualMachineId") or source.get("id")
        if old is None and vm_id:
            vm = self.resources.get(vm_id.lower())
            if vm is None:
                raise ArmError(404, "ResourceNotFound", f"The source virtual machine {vm_id} was not found.")
            if not vm.get("_generalized"):
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"The source virtual machine {vm_id} must be generalized "
                    "before it is captured into a gallery image version.",
                )
        if not self.resources.get("/".join(version["id"].split("/")[:-2]).lower()):
            raise ArmError(404, "ParentResourceNotFound", f"The image definition of {version['id']} was not found.")

    def _made_versions(self, version: dict[str, Any], old: dict | None) -> None:
        regions = [t["name"].lower().replace(" ", "") for t in
                   version["properties"].get("publishingProfile", {}).get("targetRegions", [])]  # fmt: skip
        before = {s["region"]: s["state"] for s in (old or {}).get("_replication", [])}
        version["_replication"] = [{"region": r, "state": before.get(r, "Replicating"), "progress": 0}
                                   for r in regions]  # fmt: skip

    def _done_versions(self, version: dict[str, Any]) -> None:
        for status in version["_replication"]:
            status.update(state="Completed", progress=100)

    def _of_type(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.resources.values() if r["type"].lower() == kind.lower()]

    def view(self, resource: dict[str, Any], expand: str = "") -> dict[str, Any]:
        shown = {k: copy.deepcopy(v) for k, v in resource.items() if not k.startswith("_")}
        if resource["type"] == "Microsoft.Compute/virtualMachines" and expand.lower() == "instanceview":
            shown["properties"]["instanceView"] = self.instance_view(resource)
        if resource["type"].endswith("/versions") and expand.lower() == "replicationstatus":
            states = {s["state"] for s in resource["_replication"]}
            shown["properties"]["replicationStatus"] = {
                "aggregatedState": "Completed" if states == {"Completed"} else "InProgress",
                "summary": copy.deepcopy(resource["_replication"]),
            }
        return shown


class IdentityError(Exception):
    def __init__(self, status: int, error: str, description: str, code: int):
        super().__init__(description)
        self.status, self.error, self.description, self.code = status, error, description, code


def _matches(body: Any, when: dict[str, str]) -> bool:
    """Whether every key of `when` has its value somewhere in the JSON body."""

    def values(node: Any, key: str) -> list[Any]:
        if isinstance(node, dict):
            return [node[key]] * (key in node) + [v for child in node.values() for v in values(child, key)]
        if isinstance(node, list):
            return [v for child in node for v in values(child, key)]
        return []

    return all(value in values(body, key) for key, value in when.items())


def _type_of(key: str) -> str:
    """`Microsoft.Network/virtualNetworks/subnets` from a resource id."""
    parts = key.strip("/").split("/")
    if "providers" not in parts:
        return "Microsoft.Resources/resourceGroups"
    at = len(parts) - 1 - parts[::-1].index("providers")
    rest = parts[at + 1 :]
    return "/".join([rest[0], *rest[1::2]])


def _prepare(key: str, kind: str, body: dict[str, Any], old: dict | None) -> dict[str, Any]:
    resource = {"id": key, "name": key.split("/")[-1], "type": kind,
                "location": str(body.get("location") or (old or {}).get("location") or "").lower().replace(" ", ""),
                "tags": body.get("tags") or {}, "properties": copy.deepcopy(body.get("properties") or {}),
                "systemData": (old or {}).get("systemData") or {"createdAt": now_text()}}  # fmt: skip
    for extra in ("zones", "sku", "identity"):
        if body.get(extra) is not None:
            resource[extra] = copy.deepcopy(body[extra])
    for _, child in _child_lists(resource, key):
        child.setdefault("properties", {})["provisioningState"] = "Succeeded"
    return resource


def _child_lists(resource: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name in CHILD_LISTS:
        for child in resource["properties"].get(name) or []:
            child["id"] = f"{key}/{name}/{child['name']}"
            found.append((name, child))
    return found


def _children(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for name in CHILD_LISTS for c in resource["properties"].get(name) or []]


def _same(old: dict[str, Any], body: dict[str, Any]) -> bool:
    return (old.get("tags") or {}) == (body.get("tags") or {}) and _subset(body.get("properties") or {},
                                                                           old["properties"])  # fmt: skip


def _subset(wanted: Any, have: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(have, dict) and all(k in have and _subset(v, have[k]) for k, v in wanted.items()
                                              if k != "provisioningState")  # fmt: skip
    if isinstance(wanted, list):
        return isinstance(have, list) and len(wanted) == len(have) and all(
            _subset(w, h) for w, h in zip(wanted, have, strict=True))  # fmt: skip
    return wanted == have


PROVIDER = re.compile(r"^/subscriptions/([^/]+)/providers/([^/]+)/locations/([^/]+)/(operations|operationResults)/"
                      r"([^/]+)$", re.I)  # fmt: skip
IMAGES = re.compile(r"^/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/([^/]+)/publishers/([^/]+)/"
                    r"artifacttypes/vmimage/offers/([^/]+)/skus/([^/]+)/versions(?:/([^/]+))?$", re.I)  # fmt: skip


def handler(arm: Arm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve("GET")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                if url.path.startswith("/_strata/"):
                    return self._send(200, self._lever(method, url.path, json.loads(raw or b"{}")))
                if "/oauth2/" in url.path or "/.well-known/" in url.path or "/discovery/" in url.path:
                    return self._identity(method, url.path, raw)
                body = json.loads(raw) if raw and method in ("PUT", "PATCH", "POST") else {}
                arm.settle()
                arm.fire(f"{method} {self._operation_name(url.path, method)}", url.path.lower(), body)
                if "api-version" not in query:
                    raise ArmError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=)"
                                                                      " is required for all requests.")  # fmt: skip
                with arm.lock:
                    status, answer, headers = self._arm(method, url.path.rstrip("/"), query, body)
                self._send(status, answer, headers)
            except ArmError as err:
                body = {"error": {"code": err.code, "message": err.message, "details": []}}
                self._send(err.status, body, {**err.headers, "x-ms-failure-cause": "gateway"})
            except IdentityError as err:
                self._send(
                    err.status,
                    {
                        "error": err.error,
                        "error_description": err.description,
                        "error_codes": [err.code],
                        "timestamp": now_text(),
                        "trace_id": str(uuid.uuid4()),
                        "correlation_id": str(uuid.uuid4()),
                    },
                )

        @staticmethod
        def _operation_name(path: str, method: str) -> str:
            """What faults and counts are keyed by: "PUT virtualMachines", "POST virtualMachines/deallocate",
            "GET resources" (the list), "DELETE resourceGroups", "GET subscriptions"."""
            parts = [p for p in path.split("/") if p]
            if "providers" not in parts:
                if len(parts) <= 2:
                    return "subscriptions"
                return "resourceGroups" if parts[2].lower() == "resourcegroups" and len(parts) <= 4 else parts[-1]
            after = parts[parts.index("providers") + 1 :]
            if len(after) % 2 == 0:
                return f"{after[-3]}/{after[-1]}" if method == "POST" else after[-1]
            return after[-2]

        def _identity(self, method: str, path: str, raw: bytes) -> None:
            parts = [p for p in path.split("/") if p]
            tenant = parts[0]
            if path.endswith("/.well-known/openid-configuration"):
                issuer = f"{arm.base}/{tenant}"
                return self._send(200, {
                    "token_endpoint": f"{issuer}/oauth2/v2.0/token", "issuer": f"{issuer}/v2.0",
                    "authorization_endpoint": f"{issuer}/oauth2/v2.0/authorize",
                    "device_authorization_endpoint": f"{issuer}/oauth2/v2.0/devicecode",
                    "jwks_uri": f"{issuer}/discovery/v2.0/keys", "tenant_region_scope": "NA",
                    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                              "client_secret_basic"],
                })  # fmt: skip
            if method == "POST" and path.endswith("/oauth2/v2.0/token"):
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                arm.fire("POST token", path, form)
                return self._send(200, arm.token(tenant, form))
            self._send(404, {"error": "not_found", "error_description": f"{path} is not served here"})

        def _arm(self, method: str, path: str, query: dict[str, str],
                 body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
            parts = path.split("/")
            sub = parts[2] if len(parts) > 2 else ""
            client = arm.principal(self.headers.get("Authorization"))
            if sub.lower() != client["subscription"].lower():
                raise ArmError(
                    403,
                    "AuthorizationFailed",
                    f"The client '{client['client']}' with object id "
                    f"'{client['client']}' does not have authorization to perform action "
                    f"'{self._action(method, path)}' over scope '/subscriptions/{sub}' or the scope is "
                    "invalid. If access was recently granted, please refresh your credentials.",
                )
            if len(parts) == 3:
                return 200, {"id": f"/subscriptions/{sub}", "subscriptionId": sub, "tenantId": client["tenant"],
                             "displayName": "Strata stand-in subscription", "state": "Enabled"}, {}  # fmt: skip
            if found := PROVIDER.match(path):
                status = arm.operation_status(found.group(5))
                if found.group(4).lower() == "operations":
                    return 200, status, {"Retry-After": "1"} if status["status"] == "InProgress" else {}
                return (202, None, {"Retry-After": "1"}) if status["status"] == "InProgress" else (200, None, {})
            if found := IMAGES.match(path):
                return self._images(found)
            scope_end = 5 if len(parts) > 4 and parts[3].lower() == "resourcegroups" else 3
            if parts[-1].lower() in ("resources", "resourcegroups") and len(parts) in (4, 6):
                kind = "Microsoft.Resources/resourceGroups" if parts[-1].lower() == "resourcegroups" else None
                return self._page("/".join(parts[:scope_end]), kind, query)
            if len(parts) == 5 and parts[3].lower() == "resourcegroups":
                return self._resource(method, path, query, body)
            at = parts.index("providers") if "providers" in parts else -1
            after = len(parts) - at - 1
            if at > 0 and after >= 2 and after % 2 == 0 and method == "GET":  # a collection, of a parent's if nested
                return self._page("/".join(parts[:-1] if after > 2 else parts[:at]), _type_of(path + "/x"), query)
            if at > 0 and after >= 4 and after % 2 == 0 and method == "POST":  # an action
                status, answer, headers = arm.action("/".join(parts[:-1]), parts[-1])
                return status, answer, headers
            return self._resource(method, path, query, body)

        @staticmethod
        def _action(method: str, path: str) -> str:
            verb = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}.get(method, "action")
            return f"{_type_of(path)}/{verb}"

        def _resource(self, method: str, path: str, query: dict[str, str],
                      body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
            if method in ("GET", "HEAD"):
                found = arm.get(path)
                return (204 if method == "HEAD" else 200), arm.view(found, query.get("$expand", "")), {}
            if method == "PUT":
                status, resource, headers = arm.put(path, body)
                return status, arm.view(resource), headers
            if method == "PATCH":
                return 200, arm.view(arm.patch(path, body)), {}
            if method == "DELETE":
                status, headers = arm.delete(path)
                return status, None, headers
            raise ArmError(405, "MethodNotAllowed", f"{method} is not served on {path}")

        def _page(self, scope: str, kind: str | None, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
            found = arm.listing(scope, kind, query)
            start = int(query.get("$skiptoken") or 0)
            page = found[start : start + arm.page_size]
            shown = [arm.view(r, query.get("$expand", "")) for r in page]
            if kind is None:  # the `resources` list answers generic resources: no properties, and no tags
                expand = query.get("$expand", "").lower()  # when filtered by a tag's name and value
                kept = (
                    "id",
                    "name",
                    "type",
                    "location",
                    "zones",
                    "sku",
                    *(() if "tagValue" in query.get("$filter", "") else ("tags",)),
                )
                shown = [{**{k: r[k] for k in kept if k in r},
                          **({"provisioningState": r["properties"].get("provisioningState")}
                             if "provisioningstate" in expand else {})} for r in shown]  # fmt: skip
            answer: dict[str, Any] = {"value": shown}
            if start + arm.page_size < len(found):
                kept = {k: v for k, v in query.items() if k != "$skiptoken"}
                kept["$skiptoken"] = str(start + arm.page_size)
                answer["nextLink"] = f"{arm.base}{urlsplit(self.path).path}?" + "&".join(
                    f"{k}={quote(v, safe='')}" for k, v in kept.items())  # fmt: skip
            return 200, answer, {}

        @staticmethod
        def _images(found: re.Match[str]) -> tuple[int, Any, dict[str, str]]:
            location, publisher, offer, sku, version = found.groups()
            versions = MARKETPLACE.get((publisher.lower(), offer.lower(), sku.lower()))
            if versions is None or location.lower() not in LOCATIONS:
                raise ArmError(404, "ArtifactNotFound", f"Artifact: VMImage was not found. publisher {publisher} "
                                                        f"offer {offer} sku {sku} in {location}")  # fmt: skip
            base = (f"/Subscriptions/x/Providers/Microsoft.Compute/Locations/{location}/Publishers/{publisher}/"
                    f"ArtifactTypes/VMImage/Offers/{offer}/Skus/{sku}/Versions")  # fmt: skip
            if version:
                if version not in versions:
                    raise ArmError(404, "ArtifactNotFound", f"Artifact: VMImage version {version} was not found.")
                return (
                    200,
                    {
                        "id": f"{base}/{version}",
                        "name": version,
                        "location": location,
                        "properties": {"osImage": {"operatingSystem": "Linux"}, "hyperVGeneration": "V2"},
                    },
                    {},
                )
            return 200, [{"id": f"{base}/{v}", "name": v, "location": location} for v in versions], {}

        def _lever(self, method: str, path: str, body: dict[str, Any]) -> Any:
            with arm.lock:
                if path == "/_strata/faults" and method == "POST":
                    arm.faults.append(body)
                elif path == "/_strata/faults" and method == "DELETE":
                    arm.faults.clear()
                    arm.throttled_until.clear()
                    arm.restricted.clear()
                elif path == "/_strata/quota" and method == "POST":
                    arm.quota[body["location"]] = int(body["cores"])
                elif path == "/_strata/restrict" and method == "POST":
                    arm.restricted.add((body["location"], body["size"]))
                elif path == "/_strata/settings" and method == "POST":
                    arm.page_size = int(body.get("pageSize", arm.page_size))
                    arm.scale = float(body.get("scale", arm.scale))
                elif path == "/_strata/usage":
                    return {loc: sum(SIZES[r["properties"]["hardwareProfile"]["vmSize"]]
                                     for r in arm._of_type("Microsoft.Compute/virtualMachines")
                                     if r["location"] == loc) for loc in LOCATIONS}  # fmt: skip
                return {"calls": dict(arm.calls), "early": dict(arm.early)}

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None or status == 204 else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("x-ms-request-id", str(uuid.uuid4()))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            if os.environ.get("STRATA_ARM_LOG"):
                status = args[1] if len(args) > 1 else ""
                sys.stderr.write(f"{time.monotonic():.3f} {self.command} {self.path} {status}\n")

    return Handler


def main() -> None:
    port, folder = int(sys.argv[1]), Path(sys.argv[2])
    clients = json.loads(os.environ["STRATA_ARM_CLIENTS"])
    keys, roots = os.environ.get("STRATA_ARM_AUTHORIZED_KEYS"), os.environ.get("STRATA_ARM_INSTANCE_ROOTS")
    arm = Arm(f"https://127.0.0.1:{port}", clients, Path(keys) if keys else None, Path(roots) if roots else None)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(arm))
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "arm.crt", folder / "arm.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
