"""Azure's refusals by Strata's normalized kinds: the one place the Azure driver maps them. ARM words an
error as {"error": {"code", "message"}}; the identity platform refuses a credential with an AADSTS code."""

from __future__ import annotations

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

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
    "QuotaExceeded": QUOTA, "OperationNotAllowed": CONFLICT,  # a quota's OperationNotAllowed: see cloud_error
    "SkuNotAvailable": CAPACITY, "AllocationFailed": CAPACITY, "ZonalAllocationFailed": CAPACITY,
    "OverconstrainedAllocationRequest": CAPACITY, "OverconstrainedZonalAllocationRequest": CAPACITY,
    "AuthorizationFailed": AUTH, "LinkedAuthorizationFailed": AUTH, "InvalidAuthenticationToken": AUTH,
    "AuthenticationFailed": AUTH, "ExpiredAuthenticationToken": AUTH, "InvalidAuthenticationTokenTenant": AUTH,
    "InvalidParameter": INVALID, "PlatformImageNotFound": INVALID, "GalleryImageNotFound": INVALID,
    "ImageNotFound": INVALID, "ArtifactNotFound": INVALID, "InvalidResourceReference": INVALID,
    "NetcfgSubnetRangeOutsideVnet": INVALID, "SecurityRuleInvalidPriority": INVALID, "SecurityRuleConflict": INVALID,
    "LocationRequired": INVALID, "InvalidResourceGroupLocation": INVALID, "MissingApiVersionParameter": INVALID,
    "InvalidFilterInQueryString": INVALID, "LocationNotAvailableForResourceType": INVALID,
    "ResourceNotFound": NOT_FOUND, "ResourceGroupNotFound": NOT_FOUND, "NotFound": NOT_FOUND,
    "ParentResourceNotFound": NOT_FOUND, "SubscriptionNotFound": NOT_FOUND,
    "TooManyRequests": THROTTLED, "Throttled": THROTTLED, "RetryableError": THROTTLED,
    "Conflict": CONFLICT, "AnotherOperationInProgress": CONFLICT, "ResourceGroupBeingDeleted": CONFLICT,
    "NicInUse": CONFLICT, "InUseNetworkSecurityGroupCannotBeDeleted": CONFLICT, "InUseSubnetCannotBeDeleted": CONFLICT,
    "PublicIPAddressCannotBeDeleted": CONFLICT, "InUseApplicationSecurityGroupCannotBeDeleted": CONFLICT,
    "OperationPreempted": CONFLICT, "ReferencedResourceNotProvisioned": CONFLICT,
}  # fmt: skip


def cloud_error(err: AzureError) -> CloudError:
    """Azure's refusal as a CloudError with Azure's own code and message; 5xx and transport errors are outages.
    `OperationNotAllowed` is Compute's word both for a quota (user-fixable) and for a VM in the wrong state
    (retried): its message tells which."""
    if isinstance(err, ClientAuthenticationError) and not (err.error and err.error.code):
        return CloudError(AUTH, "ClientAuthenticationError", _aadsts(err.message or str(err)))  # azure-identity's
    if isinstance(err, HttpResponseError):
        status = err.status_code or 0
        code = (err.error.code if err.error and err.error.code else "") or _status_code(status)
        message = err.error.message if err.error and err.error.message else _first_line(err.message or str(err))
        if code == "OperationNotAllowed" and "quota" in message.lower():
            return CloudError(QUOTA, code, message)
        kind = KINDS.get(code) or (AUTH if status in (401, 403) else THROTTLED if status == 429 else
                                   NOT_FOUND if status == 404 else CONFLICT if status == 409 else
                                   INVALID if 400 <= status < 500 else UNAVAILABLE)  # fmt: skip
        return CloudError(kind, code, message, retry_after=_retry_after(err))
    return CloudError(UNAVAILABLE, type(err).__name__, _first_line(str(err)))


def _retry_after(err: HttpResponseError) -> float:
    """The seconds ARM asked for in Retry-After (a number; an HTTP date is taken as no wait)."""
    said = err.response.headers.get("Retry-After", "") if err.response is not None else ""
    try:
        return max(0.0, float(said))
    except ValueError:
        return 0.0


def _status_code(status: int) -> str:
    return {401: "AuthenticationFailed", 403: "AuthorizationFailed", 404: "NotFound", 409: "Conflict",
            429: "TooManyRequests"}.get(status, f"Http{status}")  # fmt: skip


def _aadsts(text: str) -> str:
    """The identity platform's own words (its AADSTS line) out of azure-identity's longer message."""
    found = [line[line.index("AADSTS") :].strip() for line in text.splitlines() if "AADSTS" in line]
    return found[0] if found else _first_line(text)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
