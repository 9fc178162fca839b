"""Trusted keys: an EC public key or a CA certificate, read from PEM and named."""

import hashlib
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KeyKind = Literal["public-key", "certificate"]
# The curves model-signing signs with (Sigstore's key details); others are refused when added.
CURVES = ("secp256r1", "secp384r1", "secp521r1")
MAX_PEM_BYTES = 64 * 1024


@dataclass(frozen=True)
class TrustedKey:
    """A key bundles may be verified against."""

    name: str
    kind: KeyKind
    pem: bytes  # canonical PEM: one SubjectPublicKeyInfo, or one certificate
    fingerprint: str  # sha256 hex of `pem` (a public key's is model-signing's key hint)
    subject: str | None = None  # a certificate's subject


def read_key(name: str, data: bytes) -> TrustedKey:
    """The one public key or certificate in PEM `data`; ValueError says why it is not one."""
    if len(data) > MAX_PEM_BYTES:
        raise ValueError(f"a key file must be at most {MAX_PEM_BYTES} bytes")
    if b"PRIVATE KEY-----" in data:
        raise ValueError("this is a private key: add the public key or certificate instead")
    if b"-----BEGIN CERTIFICATE-----" in data:
        return _certificate(name, data)
    if b"-----BEGIN PUBLIC KEY-----" in data:
        return _public_key(name, data)
    raise ValueError("expected a PEM public key (BEGIN PUBLIC KEY) or certificate")


def _public_key(name: str, data: bytes) -> TrustedKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a readable PEM public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in CURVES:
        raise ValueError(f"model-signing keys are elliptic-curve keys on {', '.join(CURVES)}")
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return TrustedKey(name, "public-key", pem, hashlib.sha256(pem).hexdigest())


def _certificate(name: str, data: bytes) -> TrustedKey:
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValueError(f"not a readable PEM certificate: {exc}") from None
    if len(certificates) != 1:
        raise ValueError("a key file must hold one certificate; add each under its own name")
    pem = certificates[0].public_bytes(serialization.Encoding.PEM)
    subject = certificates[0].subject.rfc4514_string()
    return TrustedKey(name, "certificate", pem, hashlib.sha256(pem).hexdigest(), subject)
