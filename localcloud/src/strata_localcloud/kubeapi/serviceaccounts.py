"""Who a request to an emulated cluster comes from, as kube-apiserver authenticates it: a client
certificate signed by the cluster's CA (user = its CN, groups = its O), or a service account's bound
token as a bearer token. Tokens are minted by the TokenRequest subresource (`POST .../serviceaccounts/
NAME/token`): ES256 JWTs signed with the cluster's service-account key (kubeadm's sa.key), `sub`
system:serviceaccount:NAMESPACE:NAME, the API's audience, an expiry, and the account's uid, so a token
stops working when it expires or its account is deleted (the account's uid is checked at each request,
as for the bound tokens kube-apiserver issues since 1.22)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from strata_localcloud.kubeapi import store
from strata_localcloud.kubeapi.errors import ApiError

ISSUER = "https://kubernetes.default.svc.cluster.local"  # kubeadm's default --service-account-issuer
MIN_SECONDS, DEFAULT_SECONDS, MAX_SECONDS = 600, 3600, 48 * 3600  # TokenRequest's bounds (kube's defaults)
SUPERUSERS = "system:masters"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]

    @property
    def superuser(self) -> bool:
        return SUPERUSERS in self.groups


def certificate_user(peer: dict[str, Any]) -> User:
    """The user a verified client certificate names (`getpeercert()`'s subject)."""
    names = [(key, value) for rdn in peer.get("subject", ()) for key, value in rdn]
    common = next((value for key, value in names if key == "commonName"), "")
    return User(common, (*(value for key, value in names if key == "organizationName"), "system:authenticated"))


def mint(tx: store.Tx, key_pem: str, namespace: str, name: str, request: Any) -> dict[str, Any]:
    """The TokenRequest answered: a token for the account, bound to it and expiring."""
    account = tx.get("/serviceaccounts", namespace, name)
    if account is None:
        raise ApiError(
            404, "NotFound", f'serviceaccounts "{name}" not found', {"name": name, "kind": "serviceaccounts"}
        )
    spec = (request or {}).get("spec") or {}
    seconds = spec.get("expirationSeconds") or DEFAULT_SECONDS
    if not isinstance(seconds, int) or seconds < MIN_SECONDS:
        raise ApiError(422, "Invalid", f"spec.expirationSeconds: Invalid value: {seconds}: may not specify a "
                       f"duration less than {MIN_SECONDS} seconds")  # fmt: skip
    seconds = min(seconds, MAX_SECONDS)
    audiences = spec.get("audiences") or [ISSUER]
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": f"system:serviceaccount:{namespace}:{name}", "aud": audiences, "iat": now,
              "nbf": now, "exp": now + seconds, "kubernetes.io": {"namespace": namespace, "serviceaccount": {
                  "name": name, "uid": account["metadata"]["uid"]}}}  # fmt: skip
    token = jwt.encode(claims, key_pem, algorithm="ES256")
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + seconds))
    return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": None},
            "status": {"token": token, "expirationTimestamp": expires}}  # fmt: skip


def token_user(tx: store.Tx, public_pem: str, token: str) -> User:
    """The service account a bearer token belongs to, or 401 (bad signature, expired, account gone)."""
    try:
        claims = jwt.decode(token, public_pem, algorithms=["ES256"], audience=ISSUER, issuer=ISSUER)
        bound = claims["kubernetes.io"]
        namespace, name, uid = bound["namespace"], bound["serviceaccount"]["name"], bound["serviceaccount"]["uid"]
    except (jwt.PyJWTError, KeyError, TypeError):
        raise ApiError(401, "Unauthorized", "Unauthorized") from None
    account = tx.get("/serviceaccounts", namespace, name)
    if account is None or account["metadata"]["uid"] != uid:
        raise ApiError(401, "Unauthorized", "Unauthorized")
    return User(f"system:serviceaccount:{namespace}:{name}",
                ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"))  # fmt: skip
