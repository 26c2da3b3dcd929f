"""AWS's error codes by Strata's normalized kinds: the one place the AWS driver maps them."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from strata_common.clouds.driver import (
    AUTH,
    CAPACITY,
    CONFLICT,
    INVALID,
    NOT_FOUND,
    QUOTA,
    THROTTLED,
    UNAVAILABLE,
    CloudError,
)

KINDS = {
    "VcpuLimitExceeded": QUOTA, "InstanceLimitExceeded": QUOTA, "VpcLimitExceeded": QUOTA,
    "AddressLimitExceeded": QUOTA, "TooManyLoadBalancers": QUOTA,
    "InsufficientInstanceCapacity": CAPACITY, "InsufficientCapacity": CAPACITY,
    "AuthFailure": AUTH, "UnauthorizedOperation": AUTH, "InvalidClientTokenId": AUTH, "AccessDenied": AUTH,
    "SignatureDoesNotMatch": AUTH, "ExpiredToken": AUTH,
    "InvalidAMIID.NotFound": INVALID, "InvalidAMIID.Malformed": INVALID, "InvalidParameterValue": INVALID,
    "InvalidParameterCombination": INVALID, "ValidationError": INVALID, "InvalidSubnet": INVALID,
    "RequestLimitExceeded": THROTTLED, "Throttling": THROTTLED, "ThrottlingException": THROTTLED,
    "InvalidInstanceID.NotFound": NOT_FOUND, "InvalidVpcID.NotFound": NOT_FOUND,
    "InvalidSubnetID.NotFound": NOT_FOUND, "InvalidGroup.NotFound": NOT_FOUND, "LoadBalancerNotFound": NOT_FOUND,
    "TargetGroupNotFound": NOT_FOUND,
    "IdempotentParameterMismatch": CONFLICT, "DependencyViolation": CONFLICT, "ResourceInUse": CONFLICT,
    "InvalidGroup.Duplicate": CONFLICT, "DuplicateLoadBalancerName": CONFLICT,
}  # fmt: skip


def cloud_error(err: ClientError | BotoCoreError) -> CloudError:
    """AWS's refusal as a CloudError with AWS's own code and message; 5xx and transport errors are outages."""
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "Unknown")
        message = err.response.get("Error", {}).get("Message", str(err))
        return CloudError(KINDS.get(code, UNAVAILABLE), code, message)
    return CloudError(UNAVAILABLE, type(err).__name__, str(err))
