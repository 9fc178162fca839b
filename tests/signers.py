"""Keys, certificates and model-signing bundles made for a test, signed with model-signing's
own signing API."""

import datetime
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from model_signing import signing


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class KeySigner:
    """An EC key pair; `sign` makes the bundle model-signing's CLI would (`sign key`)."""

    key: ec.EllipticCurvePrivateKey

    @classmethod
    def new(cls) -> "KeySigner":
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_pem(self) -> bytes:
        return public_pem(self.key)

    def sign(self, data: bytes, name: str = "model.bin") -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "key.pem").write_bytes(private_pem(self.key))
            (folder / name).write_bytes(data)
            config = signing.Config().use_elliptic_key_signer(private_key=folder / "key.pem")
            config.sign(folder / name, folder / "model.sig")
            return (folder / "model.sig").read_bytes()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    else:
        usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
    return builder.add_extension(usage, critical=True).sign(issuer_key, hashes.SHA256())


@dataclass
class CertificateSigner:
    """A CA and a signing certificate it issued; `sign` makes a `sign certificate` bundle."""

    ca_key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    leaf: x509.Certificate

    @classmethod
    def new(cls, ca_name: str = "Test CA", signer: str = "model-publisher") -> "CertificateSigner":
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(ca_key, ca, key, _certificate(signer, key, ca_name, ca_key, ca=False))

    @property
    def ca_pem(self) -> bytes:
        return self.ca.public_bytes(serialization.Encoding.PEM)

    def sign(self, data: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "key.pem").write_bytes(private_pem(self.key))
            (folder / "leaf.pem").write_bytes(self.leaf.public_bytes(serialization.Encoding.PEM))
            (folder / "ca.pem").write_bytes(self.ca_pem)
            (folder / "model.bin").write_bytes(data)
            config = signing.Config().use_certificate_signer(
                private_key=folder / "key.pem",
                signing_certificate=folder / "leaf.pem",
                certificate_chain=[folder / "ca.pem"],
            )
            config.sign(folder / "model.bin", folder / "model.sig")
            return (folder / "model.sig").read_bytes()
