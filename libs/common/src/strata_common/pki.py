"""A cluster's PKI, as kubeadm lays it out: cluster CA, front-proxy CA, etcd CA, service-account key
pair, an admin client certificate, a bootstrap token and a certificate key."""

from __future__ import annotations

import base64
import datetime
import hashlib
import secrets
import string
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_YEARS = 10
CLIENT_DAYS = 365


def _pem_key(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _ca(common_name: str) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _client(
    ca_key: Any, ca_cert: x509.Certificate, common_name: str, organization: str
) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CLIENT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def bootstrap_token() -> str:
    """A kubeadm bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}."""
    alphabet = string.ascii_lowercase + string.digits
    return (
        "".join(secrets.choice(alphabet) for _ in range(6)) + "." + "".join(secrets.choice(alphabet) for _ in range(16))
    )


def generate(cluster_name: str) -> dict[str, str]:
    """Every secret a new cluster needs, as PEM strings and tokens."""
    ca_key, ca_cert = _ca("kubernetes")
    front_key, front_cert = _ca("front-proxy-ca")
    etcd_key, etcd_cert = _ca("etcd-ca")
    admin_key, admin_cert = _client(ca_key, ca_cert, "kubernetes-admin", "system:masters")
    sa_key = ec.generate_private_key(ec.SECP256R1())  # ES256 service-account tokens
    return {
        "clusterName": cluster_name,
        "caCert": _pem_cert(ca_cert),
        "caKey": _pem_key(ca_key),
        "frontProxyCaCert": _pem_cert(front_cert),
        "frontProxyCaKey": _pem_key(front_key),
        "etcdCaCert": _pem_cert(etcd_cert),
        "etcdCaKey": _pem_key(etcd_key),
        "serviceAccountKey": _pem_key(sa_key),
        "serviceAccountPub": sa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "adminCert": _pem_cert(admin_cert),
        "adminKey": _pem_key(admin_key),
        "bootstrapToken": bootstrap_token(),
        "certificateKey": secrets.token_hex(32),
        "encryptionKey": base64.b64encode(secrets.token_bytes(32)).decode(),  # Secrets encrypted at rest (aescbc)
    }


def ca_cert_hash(ca_cert_pem: str) -> str:
    """kubeadm's --discovery-token-ca-cert-hash: sha256 of the CA's SubjectPublicKeyInfo."""
    cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()
