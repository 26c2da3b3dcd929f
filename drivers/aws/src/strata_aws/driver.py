"""The AWS driver: CloudDriver over EC2 and ELBv2.

Idempotency: every create carries the step's token as the tag `strata:token`, and the driver looks
that tag up before creating; RunInstances and CopyImage also send it as EC2's ClientToken, so two
racing attempts get one instance. Nodes of the control plane and the workers live in subnets and
security groups of their own; the API's load balancer is a Network Load Balancer with a target
group on the API port, to which the control-plane instances are registered.

Security groups are made in two passes (the groups, then rules naming each other's ids), and the
NLB has a group of its own, the only one open to 0.0.0.0/0. Stand-in: tested against moto_server,
which neither enforces vCPU quotas nor deduplicates ClientToken (the test's wrapper adds both), has
the same AMI ids in every region and keeps no image contents; the driver depends on none of that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from strata_aws.errors import cloud_error
from strata_common.clouds.addresses import subnet_cidr
from strata_common.clouds.driver import (
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
CONSISTENCY_SECONDS = 120.0  # how long a launched instance EC2 does not show yet counts as pending, not gone
ATTEMPTS = 4  # botocore's own tries of a throttled or failed call; the step's backoff comes after
RETRIES = Config(retries={"mode": "adaptive", "total_max_attempts": ATTEMPTS})
EC2_STATES = {
    "pending": PENDING,
    "running": READY,
    "shutting-down": GONE,
    "terminated": GONE,
    "stopping": PENDING,
    "stopped": READY,
    "available": READY,
    "failed": "failed",
    "deregistered": GONE,
}
LB_STATES = {"provisioning": PENDING, "active": READY, "active_impaired": READY, "failed": "failed"}
LIVE = {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _tag_dict(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in items or []}


def _filters(tags: TagFilter) -> list[dict[str, Any]]:
    """EC2 filters: a filter's values are alternatives (EC2 takes up to 200 values per filter)."""
    return [{"Name": f"tag:{key}", "Values": list(value) if isinstance(value, tuple) else [value]}
            for key, value in sorted(tags.items())]  # fmt: skip


def _token_filter(tokens: list[str]) -> list[dict[str, Any]]:
    """One describe for several of Strata's tokens."""
    return [{"Name": f"tag:{TOKEN_TAG}", "Values": tokens}]


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _gone(refused: CloudError) -> bool:
    """Whether AWS refused because the resource does not exist (any `*.NotFound`, an image's included)."""
    return refused.kind == NOT_FOUND or refused.code.endswith(".NotFound")


Grant = tuple[str, int, int, str, str, str]  # protocol, from port, to port, "group"|"cidr", source, why


def _rule_grants(rule: dict[str, Any], group_ids: dict[str, str]) -> list[Grant]:
    """A rule as EC2's atoms: one per source, groups named by the set resolved to their ids."""
    low, _, high = str(rule["ports"]).partition("-")
    ports = (rule["protocol"], int(low), int(high or low))
    why = rule.get("why", "")
    return [(*ports, "group", group_ids[name], why) for name in rule.get("from", [])] + [
        (*ports, "cidr", cidr, why) for cidr in rule.get("cidrs", [])
    ]


def _grants(permissions: list[dict[str, Any]]) -> set[tuple[str, int, int, str, str]]:
    found = set()
    for p in permissions:
        ports = (p["IpProtocol"], p.get("FromPort", -1), p.get("ToPort", -1))
        found |= {(*ports, "group", pair["GroupId"]) for pair in p.get("UserIdGroupPairs", [])}
        found |= {(*ports, "cidr", cidr["CidrIp"]) for cidr in p.get("IpRanges", [])}
    return found


def _rules(group: dict[str, Any]) -> list[dict[str, Any]]:
    """A group's ingress as Strata's rules, read back from EC2 (sources as group ids and CIDRs)."""
    rules = []
    for p in group.get("IpPermissions", []):
        low, high = p.get("FromPort", -1), p.get("ToPort", -1)
        pairs, ranges = p.get("UserIdGroupPairs", []), p.get("IpRanges", [])
        rules.append({
            "protocol": p["IpProtocol"], "ports": str(low) if low == high else f"{low}-{high}",
            "from": sorted(pair["GroupId"] for pair in pairs), "cidrs": sorted(r["CidrIp"] for r in ranges),
            "why": next((s["Description"] for s in [*pairs, *ranges] if s.get("Description")), ""),
        })  # fmt: skip
    return sorted(rules, key=lambda r: (r["protocol"], r["ports"]))


class AwsCloud:
    """CloudDriver for one AWS account (its boto3 session) over the regions it is asked about."""

    def __init__(
        self, session: boto3.Session, regions: list[str], endpoint_url: str | None = None,
        builder_ssh: dict[str, str] | None = None,
    ):  # fmt: skip
        """`builder_ssh` is for stand-in clouds whose instances are not real machines: where the
        builder's SSH answers instead ({"address": "host:port", "user": ..., "python": the interpreter
        there, "root": folder whose subfolder per builder stands for its root filesystem})."""
        self.session = session
        self.regions = regions
        self.endpoint_url = endpoint_url
        self.builder_ssh = builder_ssh
        self._clients: dict[tuple[str, str], Any] = {}
        self._launched: dict[str, float] = {}  # instance id -> when this process launched it
        self._groups: dict[str, list[dict[str, Any]]] = {}  # balancer ARN -> its target groups

    def _client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service, region_name=region, endpoint_url=self.endpoint_url, config=RETRIES
            )
        return self._clients[key]

    @contextmanager
    def _calls(self) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as err:
            raise cloud_error(err) from None

    def _locate(self, resource_id: str) -> tuple[str, Resource | None]:
        """The region a resource lives in, and the resource (None where no region has it)."""
        regions = [resource_id.split(":")[3]] if resource_id.startswith("arn:") else self.regions
        for region in regions:  # EC2 ids carry no region: ask each, the first that has it answers
            found = self._find_by_id(resource_id, region)
            if found is not None:
                return region, found
        return regions[0], None

    def _region_of(self, resource_id: str) -> str:
        return self._locate(resource_id)[0]

    # -- networks --------------------------------------------------------------------------------

    def ensure_network(
        self,
        region: str,
        cidr: str,
        zones: list[str],
        tags: dict[str, str],
        token: str,
        roles: tuple[str, ...] = NODE_ROLES,
    ) -> Resource:
        ec2 = self._client("ec2", region)
        with self._calls():
            vpc = self._one(ec2.describe_vpcs(Filters=_filters({TOKEN_TAG: token}))["Vpcs"])
            if vpc is None:
                vpc = ec2.create_vpc(
                    CidrBlock=cidr,
                    TagSpecifications=[{"ResourceType": "vpc", "Tags": _tags({**tags, TOKEN_TAG: token})}],
                )["Vpc"]
            vpc_id = vpc["VpcId"]
            self._ensure_internet_gateway(ec2, vpc_id, tags, f"{token}/igw")
            subnets: dict[str, dict[str, str]] = {role: {} for role in roles}
            pairs = [(role, zone) for role in roles for zone in zones]
            tokens = [f"{token}/{role}/{zone}" for role, zone in pairs]
            existing = {_tag_dict(s.get("Tags"))[TOKEN_TAG]: s
                        for s in ec2.describe_subnets(Filters=_token_filter(tokens))["Subnets"]}  # fmt: skip
            for i, ((role, zone), subnet_token) in enumerate(zip(pairs, tokens, strict=True)):
                found = existing.get(subnet_token)
                if found is None:
                    found = ec2.create_subnet(
                        VpcId=vpc_id,
                        CidrBlock=subnet_cidr(cidr, i),
                        AvailabilityZone=zone,
                        TagSpecifications=[
                            {
                                "ResourceType": "subnet",
                                "Tags": _tags({**tags, "strata:role": role, TOKEN_TAG: subnet_token}),
                            }
                        ],
                    )["Subnet"]
                subnets[role][zone] = found["SubnetId"]
        state = EC2_STATES.get(vpc.get("State", "available"), READY)
        return Resource(
            vpc_id,
            "network",
            region,
            None,
            state,
            {"cidr": cidr, "subnets": subnets},
            tags,
            native_state=vpc.get("State", "available"),
        )

    def _ensure_internet_gateway(self, ec2: Any, vpc_id: str, tags: dict[str, str], token: str) -> None:
        found = self._one(ec2.describe_internet_gateways(Filters=_filters({TOKEN_TAG: token}))["InternetGateways"])
        if found is None:
            found = ec2.create_internet_gateway(
                TagSpecifications=[{"ResourceType": "internet-gateway", "Tags": _tags({**tags, TOKEN_TAG: token})}]
            )["InternetGateway"]
        if not any(a["VpcId"] == vpc_id for a in found.get("Attachments", [])):
            ec2.attach_internet_gateway(InternetGatewayId=found["InternetGatewayId"], VpcId=vpc_id)
        main = ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]}]
        )["RouteTables"]
        if main and not any(r.get("GatewayId") == found["InternetGatewayId"] for r in main[0]["Routes"]):
            ec2.create_route(
                RouteTableId=main[0]["RouteTableId"],
                DestinationCidrBlock="0.0.0.0/0",
                GatewayId=found["InternetGatewayId"],
            )

    def ensure_security_groups(
        self, region: str, network_id: str, groups: dict[str, list[dict[str, Any]]], tags: dict[str, str], token: str
    ) -> dict[str, Resource]:
        ec2 = self._client("ec2", region)
        with self._calls():
            tokens = {name: f"{token}/{name}" for name in groups}
            existing = {_tag_dict(g.get("Tags"))[TOKEN_TAG]: g for g in ec2.describe_security_groups(
                Filters=_token_filter(list(tokens.values())))["SecurityGroups"]}  # fmt: skip
            made = {name: existing.get(tokens[name]) or self._security_group(ec2, network_id, name, tags, tokens[name])
                    for name in groups}  # fmt: skip
            ids = {name: group["GroupId"] for name, group in made.items()}
            changed = len(existing) < len(groups)
            for name, rules in groups.items():  # second pass: the rules, which name each other's groups
                have = _grants(made[name].get("IpPermissions", []))
                missing = [g for rule in rules for g in _rule_grants(rule, ids) if g[:5] not in have]
                if missing:
                    self._authorize(ec2, ids[name], missing)
                    changed = True
            described = list(made.values())  # a set found whole and complete is as described already
            if changed:  # else read back what was made
                described = ec2.describe_security_groups(GroupIds=list(ids.values()))["SecurityGroups"]
        by_id = {group["GroupId"]: group for group in described}
        return {
            name: Resource(group_id, "security_group", region, None, READY,
                           {"network": network_id, "name": name, "rules": _rules(by_id[group_id])},
                           _tag_dict(by_id[group_id].get("Tags")), native_state="available")
            for name, group_id in ids.items()
        }  # fmt: skip

    @staticmethod
    def _security_group(ec2: Any, network_id: str, name: str, tags: dict[str, str], token: str) -> dict:
        group_id = ec2.create_security_group(
            GroupName=f"strata-{name}-{token_hash(token, 12)}",
            Description=f"Strata {name}",
            VpcId=network_id,
            TagSpecifications=[
                {"ResourceType": "security-group", "Tags": _tags({**tags, "strata:role": name, TOKEN_TAG: token})}
            ],
        )["GroupId"]
        return {"GroupId": group_id, "IpPermissions": []}

    @staticmethod
    def _authorize(ec2: Any, group_id: str, grants: list[Grant]) -> None:
        permissions = []
        for protocol, low, high, source_kind, source, why in grants:
            permission: dict[str, Any] = {"IpProtocol": protocol, "FromPort": low, "ToPort": high}
            if source_kind == "group":
                permission["UserIdGroupPairs"] = [{"GroupId": source, "Description": why[:255]}]
            else:
                permission["IpRanges"] = [{"CidrIp": source, "Description": why[:255]}]
            permissions.append(permission)
        try:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        except ClientError as err:  # a racing attempt authorized them first
            if _code(err) != "InvalidPermission.Duplicate":
                raise

    # -- load balancers --------------------------------------------------------------------------

    def ensure_load_balancer(
        self, region: str, network_id: str, port: int, tags: dict[str, str], token: str,
        security_groups: tuple[str, ...] = (),
    ) -> Resource:  # fmt: skip
        ec2, elb = self._client("ec2", region), self._client("elbv2", region)
        name = f"strata-{token_hash(token, 24)}"
        with self._calls():
            found = self._load_balancer(elb, name)
            if found is None:  # CreateLoadBalancer is idempotent by name in AWS
                subnets = ec2.describe_subnets(
                    Filters=[
                        {"Name": "vpc-id", "Values": [network_id]},
                        {"Name": "tag:strata:role", "Values": ["control-plane"]},
                    ]
                )["Subnets"]
                request: dict[str, Any] = {
                    "Name": name,
                    "Type": "network",
                    "Scheme": "internet-facing",
                    "Subnets": [s["SubnetId"] for s in subnets],
                    "Tags": _tags({**tags, TOKEN_TAG: token}),
                }
                if security_groups:  # an NLB with a group: the nodes admit the group, not the whole Internet
                    request["SecurityGroups"] = list(security_groups)
                found = elb.create_load_balancer(**request)["LoadBalancers"][0]
            groups = self._target_groups(elb, found["LoadBalancerArn"])
            if not groups:
                group = elb.create_target_group(
                    Name=name, Protocol="TCP", Port=port, VpcId=network_id, TargetType="instance", Tags=_tags(tags)
                )["TargetGroups"][0]
                elb.create_listener(
                    LoadBalancerArn=found["LoadBalancerArn"],
                    Protocol="TCP",
                    Port=port,
                    DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
                )
        return self._balancer_resource(elb, found, tags)

    def _target_groups(self, elb: Any, balancer_arn: str) -> list[dict[str, Any]]:
        """The balancer's target groups (kept once found: a balancer's groups never change); none yet
        is an empty list (moto answers TargetGroupNotFound there)."""
        if balancer_arn in self._groups:
            return self._groups[balancer_arn]
        try:
            groups = elb.describe_target_groups(LoadBalancerArn=balancer_arn)["TargetGroups"]
        except ClientError as err:
            if _code(err) == "TargetGroupNotFound":
                return []
            raise
        if groups:
            self._groups[balancer_arn] = groups
        return groups

    @staticmethod
    def _load_balancer(elb: Any, name: str) -> dict[str, Any] | None:
        try:
            return elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]
        except ClientError as err:
            if _code(err) == "LoadBalancerNotFound":
                return None
            raise

    def _balancer_resource(self, elb: Any, balancer: dict[str, Any], tags: dict[str, str] | None = None) -> Resource:
        arn = balancer["LoadBalancerArn"]
        if tags is None:
            tags = _tag_dict(elb.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"])
        targets: list[str] = []
        port = None
        for group in self._target_groups(elb, arn):
            port = group["Port"]
            health = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
            targets += [t["Target"]["Id"] for t in health]
        native = balancer.get("State", {}).get("Code", "active")
        return Resource(
            arn,
            "load_balancer",
            arn.split(":")[3],
            None,
            LB_STATES.get(native, PENDING),
            {"dnsName": balancer["DNSName"], "port": port, "targets": sorted(targets)},
            tags,
            native_state=native,
        )

    def register_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        elb = self._client("elbv2", load_balancer_id.split(":")[3])
        with self._calls():
            for group in self._target_groups(elb, load_balancer_id):
                elb.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": i} for i in instance_ids])
            balancer = elb.describe_load_balancers(LoadBalancerArns=[load_balancer_id])["LoadBalancers"][0]
            return self._balancer_resource(elb, balancer)

    def deregister_targets(self, load_balancer_id: str, instance_ids: list[str]) -> Resource:
        elb = self._client("elbv2", load_balancer_id.split(":")[3])
        with self._calls():
            for group in self._target_groups(elb, load_balancer_id):
                # Only what is registered (moto refuses an unregistered target with InvalidTarget).
                health = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
                there = [{"Id": t["Target"]["Id"]} for t in health if t["Target"]["Id"] in instance_ids]
                if there:
                    elb.deregister_targets(TargetGroupArn=group["TargetGroupArn"], Targets=there)
            balancer = elb.describe_load_balancers(LoadBalancerArns=[load_balancer_id])["LoadBalancers"][0]
            return self._balancer_resource(elb, balancer)

    # -- images ----------------------------------------------------------------------------------

    def _image_resource(self, image: dict[str, Any], region: str) -> Resource:
        native = image.get("State", "available")
        return Resource(
            image["ImageId"],
            "image",
            region,
            None,
            EC2_STATES.get(native, PENDING),
            {"name": image.get("Name")},
            _tag_dict(image.get("Tags")),
            native_state=native,
        )

    def catalog_image(self, region: str, reference: dict[str, Any]) -> str:
        """The pack's AMI for the region: pinned by `imageId`, or the newest available image of
        `imageOwner` whose name matches `imageName` (a DescribeImages name filter, `*` wildcards)."""
        entry = reference.get(region) or {}
        if entry.get("imageId"):
            return str(entry["imageId"])
        if not entry.get("imageOwner") or not entry.get("imageName"):
            raise CloudError(INVALID, "ImageReferenceMissing", f"the OS pack names no AWS image for {region}")
        with self._calls():
            images = self._client("ec2", region).describe_images(
                Owners=[entry["imageOwner"]],
                Filters=[{"Name": "name", "Values": [entry["imageName"]]}, {"Name": "state", "Values": ["available"]}],
            )["Images"]
        if not images:
            wanted = f"{entry['imageName']!r} of owner {entry['imageOwner']}"
            raise CloudError(INVALID, "InvalidAMIID.NotFound", f"no available image named {wanted} in {region}")
        return str(max(images, key=lambda i: i.get("CreationDate", ""))["ImageId"])

    def find_images(self, region: str, tags: dict[str, str]) -> list[Resource]:
        with self._calls():
            images = self._client("ec2", region).describe_images(Owners=["self"], Filters=_filters(tags))["Images"]
        return [self._image_resource(i, region) for i in sorted(images, key=lambda i: i.get("CreationDate", ""))]

    def copy_image(self, image_id: str, region: str, tags: dict[str, str], token: str) -> Resource:
        ec2 = self._client("ec2", region)
        with self._calls():
            found = ec2.describe_images(Owners=["self"], Filters=_filters({TOKEN_TAG: token}))["Images"]
            if found:
                return self._image_resource(found[0], region)
            source_region = self._region_of(image_id)
            source = self._client("ec2", source_region).describe_images(ImageIds=[image_id])["Images"][0]
            copy_id = ec2.copy_image(
                SourceImageId=image_id,
                SourceRegion=source_region,
                Name=f"strata-{token_hash(token)}",
                ClientToken=token_hash(token, 64),
            )["ImageId"]
            ec2.create_tags(
                Resources=[copy_id], Tags=_tags({**_tag_dict(source.get("Tags")), **tags, TOKEN_TAG: token})
            )
            return self._image_resource(ec2.describe_images(ImageIds=[copy_id])["Images"][0], region)

    def create_image(self, instance_id: str, tags: dict[str, str], token: str) -> Resource:
        with self._calls():
            region = self._region_of(instance_id)
            ec2 = self._client("ec2", region)
            found = ec2.describe_images(Owners=["self"], Filters=_filters({TOKEN_TAG: token}))["Images"]
            if found:
                return self._image_resource(found[0], region)
            image_id = ec2.create_image(
                InstanceId=instance_id,
                Name=f"strata-{token_hash(token)}",
                TagSpecifications=[{"ResourceType": "image", "Tags": _tags({**tags, TOKEN_TAG: token})}],
            )["ImageId"]
            return self._image_resource(ec2.describe_images(ImageIds=[image_id])["Images"][0], region)

    # -- instances -------------------------------------------------------------------------------

    def _instance_resource(self, instance: dict[str, Any], region: str) -> Resource:
        native = instance["State"]["Name"]
        spec = {
            "instanceType": instance["InstanceType"],
            "image": instance.get("ImageId"),
            "subnet": instance.get("SubnetId"),
            "securityGroups": [g["GroupId"] for g in instance.get("SecurityGroups", [])],
            "privateIp": instance.get("PrivateIpAddress"),
            "publicIp": instance.get("PublicIpAddress"),
            "keyName": instance.get("KeyName"),
        }
        return Resource(
            instance["InstanceId"],
            "instance",
            region,
            instance.get("Placement", {}).get("AvailabilityZone"),
            EC2_STATES.get(native, PENDING),
            spec,
            _tag_dict(instance.get("Tags")),
            instance.get("LaunchTime"),
            native,
        )

    def _instances(self, ec2: Any, **kwargs: Any) -> list[dict[str, Any]]:
        found = []
        for page in ec2.get_paginator("describe_instances").paginate(**kwargs):
            for reservation in page["Reservations"]:
                found += reservation["Instances"]
        return found

    def run_instance(self, launch: LaunchSpec) -> Resource:
        ec2 = self._client("ec2", launch.region)
        with self._calls():
            existing = self._instances(ec2, Filters=[*_filters({TOKEN_TAG: launch.token}), LIVE])
            if existing:
                return self._instance_resource(existing[0], launch.region)
            request: dict[str, Any] = {
                "ImageId": launch.image,
                "InstanceType": launch.instance_type,
                "MinCount": 1,
                "MaxCount": 1,
                "ClientToken": token_hash(launch.token, 64),
                "UserData": launch.user_data,
                "BlockDeviceMappings": [
                    {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": launch.disk_gib, "VolumeType": "gp3"}}
                ],
                "TagSpecifications": [
                    {"ResourceType": "instance", "Tags": _tags({**launch.tags, TOKEN_TAG: launch.token})}
                ],
            }
            if launch.subnet:
                request["SubnetId"] = launch.subnet
            if launch.security_groups:
                request["SecurityGroupIds"] = list(launch.security_groups)
            if launch.zone and not launch.subnet:
                request["Placement"] = {"AvailabilityZone": launch.zone}
            if launch.ssh_key:
                request["KeyName"] = self._key_pair(ec2, launch)
            if launch.identity:
                request["IamInstanceProfile"] = {"Name": launch.identity}
            instance = ec2.run_instances(**request)["Instances"][0]
        self._launched[instance["InstanceId"]] = time.monotonic()
        return self._instance_resource(instance, launch.region)

    def _key_pair(self, ec2: Any, launch: LaunchSpec) -> str:
        """The launch's SSH key imported as a key pair named by its token (ImportKeyPair is by name)."""
        name = f"strata-{token_hash(launch.token, 32)}"
        if not ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}])["KeyPairs"]:
            try:
                ec2.import_key_pair(
                    KeyName=name,
                    PublicKeyMaterial=launch.ssh_key.encode() if launch.ssh_key else b"",
                    TagSpecifications=[
                        {"ResourceType": "key-pair", "Tags": _tags({**launch.tags, TOKEN_TAG: launch.token})}
                    ],
                )
            except ClientError as err:  # a racing attempt imported it first
                if _code(err) != "InvalidKeyPair.Duplicate":
                    raise
        return name

    def change_instance_type(self, instance_id: str, instance_type: str) -> Resource:
        with self._calls():
            region = self._region_of(instance_id)
            ec2 = self._client("ec2", region)
            ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": instance_type})
            return self._instance_resource(self._instances(ec2, InstanceIds=[instance_id])[0], region)

    # -- any resource ----------------------------------------------------------------------------

    def _find_by_id(self, resource_id: str, region: str) -> Resource | None:
        ec2 = self._client("ec2", region)
        try:
            if resource_id.startswith("i-"):
                found = self._instances(ec2, InstanceIds=[resource_id])
                return self._instance_resource(found[0], region) if found else None
            if resource_id.startswith("ami-"):
                images = ec2.describe_images(ImageIds=[resource_id])["Images"]
                return self._image_resource(images[0], region) if images else None
            if resource_id.startswith("arn:"):
                elb = self._client("elbv2", region)
                balancers = elb.describe_load_balancers(LoadBalancerArns=[resource_id])["LoadBalancers"]
                return self._balancer_resource(elb, balancers[0]) if balancers else None
            describe: dict[str, tuple[Callable[..., Any], str, str, str]] = {
                "vpc-": (ec2.describe_vpcs, "VpcIds", "Vpcs", "network"),
                "subnet-": (ec2.describe_subnets, "SubnetIds", "Subnets", "subnet"),
                "sg-": (ec2.describe_security_groups, "GroupIds", "SecurityGroups", "security_group"),
                "igw-": (ec2.describe_internet_gateways, "InternetGatewayIds", "InternetGateways", "internet_gateway"),
                "key-": (ec2.describe_key_pairs, "KeyPairIds", "KeyPairs", "key_pair"),
            }
            for prefix, (call, key, field, kind) in describe.items():
                if resource_id.startswith(prefix):
                    items = call(**{key: [resource_id]})[field]
                    if not items:
                        return None
                    return Resource(
                        resource_id,
                        kind,
                        region,
                        items[0].get("AvailabilityZone"),
                        READY,
                        {},
                        _tag_dict(items[0].get("Tags")),
                        native_state=items[0].get("State", "available"),
                    )
        except ClientError as err:
            if _gone(cloud_error(err)):
                return None
            raise
        return None

    def describe(self, ids: list[str]) -> list[Resource]:
        found = []
        with self._calls():
            for resource_id in ids:
                _, resource = self._locate(resource_id)
                if resource is None and time.monotonic() - self._launched.get(resource_id, -1e9) < CONSISTENCY_SECONDS:
                    # EC2 is eventually consistent: an instance just launched may not be described yet
                    resource = Resource(resource_id, "instance", "", None, PENDING, native_state="not-yet-visible")
                found.append(resource or Resource(resource_id, "unknown", "", None, GONE, native_state="not-found"))
        return found

    def delete(self, resource_id: str) -> None:
        try:
            with self._calls():
                region, found = self._locate(resource_id)
                ec2 = self._client("ec2", region)
                if resource_id.startswith("i-"):
                    ec2.terminate_instances(InstanceIds=[resource_id])
                    key = found.spec.get("keyName") if found else None
                    if key and key.startswith("strata-"):  # the key pair Strata imported for it
                        ec2.delete_key_pair(KeyName=key)
                elif resource_id.startswith("key-"):
                    ec2.delete_key_pair(KeyPairId=resource_id)
                elif resource_id.startswith("ami-"):
                    ec2.deregister_image(ImageId=resource_id)
                elif resource_id.startswith("arn:"):
                    elb = self._client("elbv2", region)
                    groups = self._target_groups(elb, resource_id)
                    elb.delete_load_balancer(LoadBalancerArn=resource_id)
                    for group in groups:
                        elb.delete_target_group(TargetGroupArn=group["TargetGroupArn"])
                elif resource_id.startswith("sg-"):
                    # its own rules first: a group that another group's rule names cannot be deleted
                    # (DependencyViolation, retried), and revoking here frees the groups this one names
                    groups = ec2.describe_security_groups(GroupIds=[resource_id])["SecurityGroups"]
                    if groups and groups[0].get("IpPermissions"):
                        self._revoke(ec2, resource_id, groups[0]["IpPermissions"])
                    ec2.delete_security_group(GroupId=resource_id)
                elif resource_id.startswith("subnet-"):
                    ec2.delete_subnet(SubnetId=resource_id)
                elif resource_id.startswith("igw-"):
                    gateway = ec2.describe_internet_gateways(InternetGatewayIds=[resource_id])["InternetGateways"][0]
                    for attachment in gateway.get("Attachments", []):
                        ec2.detach_internet_gateway(InternetGatewayId=resource_id, VpcId=attachment["VpcId"])
                    ec2.delete_internet_gateway(InternetGatewayId=resource_id)
                elif resource_id.startswith("vpc-"):
                    ec2.delete_vpc(VpcId=resource_id)
        except CloudError as err:
            if not _gone(err):  # deleting what is already gone is not an error
                raise

    @staticmethod
    def _revoke(ec2: Any, group_id: str, permissions: list[dict[str, Any]]) -> None:
        """Revoke a group's rules before deleting it; a rule whose source group is gone already is no
        obstacle (moto lets a referenced group go; AWS refuses with DependencyViolation instead)."""
        try:
            ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        except ClientError as err:
            if not _gone(cloud_error(err)):
                raise

    def list_owned(self, tags: TagFilter, kinds: tuple[str, ...] | None = None) -> list[Resource]:
        def wanted(kind: str) -> bool:
            return kinds is None or kind in kinds

        owned: list[Resource] = []
        with self._calls():
            for region in self.regions:
                ec2 = self._client("ec2", region)
                if wanted("instance"):
                    found = self._instances(ec2, Filters=[*_filters(tags), LIVE])
                    owned += [self._instance_resource(i, region) for i in found]
                if wanted("image"):
                    images = ec2.describe_images(Owners=["self"], Filters=_filters(tags))["Images"]
                    owned += [self._image_resource(i, region) for i in images]
                for call, field, kind, key in (
                    (ec2.describe_key_pairs, "KeyPairs", "key_pair", "KeyPairId"),
                    (ec2.describe_vpcs, "Vpcs", "network", "VpcId"),
                    (ec2.describe_subnets, "Subnets", "subnet", "SubnetId"),
                    (ec2.describe_security_groups, "SecurityGroups", "security_group", "GroupId"),
                    (ec2.describe_internet_gateways, "InternetGateways", "internet_gateway", "InternetGatewayId"),
                ):
                    if wanted(kind):
                        owned += [
                            Resource(item[key], kind, region, item.get("AvailabilityZone"), READY, {},
                                     _tag_dict(item.get("Tags")))
                            for item in call(Filters=_filters(tags))[field]
                        ]  # fmt: skip
                if wanted("load_balancer"):
                    owned += self._owned_balancers(region, tags)
        return owned

    def _owned_balancers(self, region: str, tags: dict[str, str]) -> list[Resource]:
        """ELBv2 has no tag filter: every balancer of the region, then their tags, 20 at a time."""
        elb = self._client("elbv2", region)
        balancers = [b for page in elb.get_paginator("describe_load_balancers").paginate()
                     for b in page["LoadBalancers"]]  # fmt: skip
        arns = [b["LoadBalancerArn"] for b in balancers]
        mine: dict[str, dict[str, str]] = {}  # ARN -> its tags, passed on rather than asked for again
        for i in range(0, len(arns), 20):
            for described in elb.describe_tags(ResourceArns=arns[i : i + 20])["TagDescriptions"]:
                found = _tag_dict(described["Tags"])
                if tags.items() <= found.items():
                    mine[described["ResourceArn"]] = found
        return [self._balancer_resource(elb, b, mine[b["LoadBalancerArn"]]) for b in balancers
                if b["LoadBalancerArn"] in mine]  # fmt: skip

    def builder_connection(self, builder: Resource, user: str | None = None) -> dict[str, str]:
        """SSH to the builder's public address (else its private one) as the image's user; the roles
        customize the running system ("/")."""
        if self.builder_ssh:  # a stand-in cloud: its instances are not machines, a real sshd stands in
            return builder_over_stand_in_ssh(self.builder_ssh, builder.id, user)
        address = builder.spec.get("publicIp") or builder.spec.get("privateIp")
        if not address:
            raise CloudError(NOT_FOUND, "BuilderAddressMissing", f"builder {builder.id} has no IP address yet")
        return {"ansible_connection": "ssh", "ansible_host": address, "ansible_port": "22",
                "ansible_user": user or "ec2-user", "image_root": "/", "ansible_become": "true"}  # fmt: skip

    def poll_delay(self, resource: Resource) -> float:
        return {"instance": 5.0, "image": 15.0, "load_balancer": 10.0}.get(resource.kind, 2.0)

    @staticmethod
    def _one(items: list[dict[str, Any]]) -> dict[str, Any] | None:
        return items[0] if items else None
