"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from STRATA_SECRET_KEY."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    """Encrypts and decrypts JSON-serialisable secrets with one key."""

    def __init__(self, secret_key: str):
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"strata-secrets-v1", info=b"fernet").derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: Any) -> bytes:
        return self._fernet.encrypt(json.dumps(secret, sort_keys=True).encode())

    def open(self, sealed: bytes) -> Any:
        try:
            return json.loads(self._fernet.decrypt(bytes(sealed)))
        except InvalidToken:
            raise ValueError(
                "secret cannot be decrypted: STRATA_SECRET_KEY differs from the one that sealed it"
            ) from None
