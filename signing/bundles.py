"""Verifying an OpenSSF model-signing bundle offline, against a file's sha256.

model-signing's `Verifier.verify` checks the bundle's signature (key or certificate chain)
and reads its in-toto statement into a manifest, checking that the statement's subject
digest is the digest of the resources it lists; its high-level `Config.verify` would then
hash the model's files again. The server already has the file's sha256 from the upload, so
it compares that with the manifest's one resource instead, and never reads the file again.
"""

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from flrepo.signing.keys import TrustedKey
from flrepo.signing.states import SignatureState, Verification

if TYPE_CHECKING:
    from model_signing.manifest import Manifest

MAX_BUNDLE_BYTES = 32 * 1024  # a key-signed bundle is ~1.5 KiB; a three-certificate one ~6 KiB
DETAIL_CHARS = 300

INVALID, UNTRUSTED, VERIFIED = (
    SignatureState.INVALID,
    SignatureState.UNTRUSTED,
    SignatureState.VERIFIED,
)


class _InMemory:
    """A bundle or key as model-signing reads it: its readers take a path and call only
    `read_text` or `read_bytes` on it, and the server holds the bytes, not a file."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read_bytes(self) -> bytes:
        return self.data

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.data.decode(encoding)


def _library(name: str) -> ModuleType:
    """A module of model-signing, imported when a bundle is first checked: the package
    imports all of sigstore-python, which takes seconds, and every `flrepo` command and
    server start would wait for it otherwise."""
    return importlib.import_module(f"model_signing._signing.{name}")


def verify_bundle(bundle: bytes, sha256: str, keys: Sequence[TrustedKey]) -> Verification:
    """The state of a file whose bytes have `sha256`, given its bundle and the trusted keys.

    A bundle signed with a key is checked against the trusted public key its hint names; one
    signed with a certificate, against the trusted certificates (the chain must lead to one
    of them; the time checked is the signing certificate's start of validity, as
    model-signing does). Keyless Sigstore bundles read UNTRUSTED: they need Fulcio and Rekor,
    which an offline server does not ask. Anything malformed reads INVALID, never an error.
    """
    if len(bundle) > MAX_BUNDLE_BYTES:
        return Verification(INVALID, detail=f"the bundle exceeds {MAX_BUNDLE_BYTES} bytes")
    try:
        signature = _library("sign_sigstore_pb").Signature.read(_InMemory(bundle))
        material = signature.bundle.verification_material
        envelope = signature.bundle.dsse_envelope
        if envelope is None or not envelope.signatures:
            return Verification(INVALID, detail="the bundle holds no signed DSSE envelope")
    # Whatever a malformed bundle makes the parser raise (KeyError, TypeError, pydantic's
    # ValidationError, UnicodeDecodeError, ...), it is the client's bundle that is wrong.
    except Exception as exc:
        return Verification(INVALID, detail=_detail("not a model-signing bundle", exc))
    if material.public_key is not None:
        return _by_key(signature, material.public_key.hint, sha256, keys)
    if material.x509_certificate_chain is not None:
        return _by_certificate(signature, sha256, keys)
    return Verification(
        UNTRUSTED, detail="a keyless Sigstore bundle needs online checks this server does not make"
    )


def _by_key(
    signature: Any, hint: str | None, sha256: str, keys: Sequence[TrustedKey]
) -> Verification:
    """Checked against the trusted key the hint names (every trusted key, for bundles of
    model-signing before 1.0, which had no hint)."""
    candidates = [k for k in keys if k.kind == "public-key" and (not hint or k.fingerprint == hint)]
    if not candidates:
        return Verification(UNTRUSTED, detail="signed with a key that is not trusted")
    failure: Exception | None = None
    for key in candidates:
        try:
            verifier = _library("sign_ec_key").Verifier(_InMemory(key.pem))
            manifest = verifier.verify(signature)
        except Exception as exc:  # a bad signature, or a statement it cannot read
            failure = exc
            continue
        return _matches(manifest, sha256, key.name)
    if not hint and isinstance(failure, InvalidSignature):
        return Verification(UNTRUSTED, detail="no trusted key verifies the signature")
    return Verification(INVALID, detail=_detail("the signature does not verify", failure))


def _by_certificate(signature: Any, sha256: str, keys: Sequence[TrustedKey]) -> Verification:
    """Checked against the trusted certificates (never the system's: an empty list would
    make model-signing fall back to certifi's roots)."""
    trusted = [_InMemory(k.pem) for k in keys if k.kind == "certificate"]
    if not trusted:
        return Verification(UNTRUSTED, detail="no certificate is trusted")
    from OpenSSL.crypto import X509StoreContextError  # with model-signing's, as late

    try:
        verifier = _library("sign_certificate").Verifier(trusted)
        chain = signature.bundle.verification_material.x509_certificate_chain
        assert chain is not None
        signer = _subject(chain.certificates[0].raw_bytes)
        manifest = verifier.verify(signature)
    except X509StoreContextError as exc:
        return Verification(UNTRUSTED, detail=_detail("the certificate chain is not trusted", exc))
    except Exception as exc:  # a bad signature, a certificate not for signing, a bad statement
        return Verification(INVALID, detail=_detail("the signature does not verify", exc))
    return _matches(manifest, sha256, signer)


def _subject(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


def _matches(manifest: "Manifest", sha256: str, signer: str) -> Verification:
    """VERIFIED if the statement signs one file, by sha256, with these bytes' digest.

    The name the statement gives the file is not compared: a model signed as `model.bin`
    may be stored under any name (model-signing names a lone file's resource `.`).
    """
    serialization = manifest.serialization_type
    resources = list(manifest.resource_descriptors())
    if serialization.get("method") != "files" or len(resources) != 1:
        return Verification(
            INVALID, signer, "the statement must sign one file (model-signing's file method)"
        )
    digest = resources[0].digest
    if digest.algorithm != "sha256":
        return Verification(
            INVALID, signer, f"the file is signed by {digest.algorithm}; sign it by sha256"
        )
    if digest.digest_hex != sha256:
        return Verification(INVALID, signer, "the statement signs other bytes than this file's")
    return Verification(VERIFIED, signer)


def _detail(what: str, exc: Exception | None) -> str:
    reason = f"{type(exc).__name__}: {exc}" if exc is not None else "no reason given"
    return f"{what} ({reason})"[:DETAIL_CHARS]
