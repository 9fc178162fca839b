"""The offline check of a model-signing bundle against a sha256 and the trusted keys."""

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flrepo.signing.bundles import MAX_BUNDLE_BYTES, verify_bundle
from flrepo.signing.keys import read_key
from flrepo.signing.states import SignatureState
from signers import CertificateSigner, KeySigner, private_pem

DATA = b"weights " * 1000
SHA256 = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(scope="module")
def alice() -> KeySigner:
    return KeySigner.new()


@pytest.fixture(scope="module")
def bundle(alice: KeySigner) -> bytes:
    return alice.sign(DATA)


def test_a_bundle_of_these_bytes_by_a_trusted_key_is_verified(alice, bundle):
    result = verify_bundle(bundle, SHA256, [read_key("alice", alice.public_pem)])
    assert result.state == SignatureState.VERIFIED
    assert result.signer == "alice"
    assert result.detail == ""


def test_the_name_the_statement_gives_the_file_does_not_matter(alice):
    bundle = alice.sign(DATA, name="other-name.h5")
    result = verify_bundle(bundle, SHA256, [read_key("alice", alice.public_pem)])
    assert result.state == SignatureState.VERIFIED


def test_one_changed_byte_of_the_file_is_invalid(alice, bundle):
    changed = hashlib.sha256(b"X" + DATA[1:]).hexdigest()
    result = verify_bundle(bundle, changed, [read_key("alice", alice.public_pem)])
    assert result.state == SignatureState.INVALID
    assert "other bytes" in result.detail


def test_a_bundle_by_an_unknown_key_is_untrusted(bundle):
    stranger = KeySigner.new()
    result = verify_bundle(bundle, SHA256, [read_key("bob", stranger.public_pem)])
    assert result.state == SignatureState.UNTRUSTED
    assert result.signer is None
    assert verify_bundle(bundle, SHA256, []).state == SignatureState.UNTRUSTED


def test_a_tampered_signature_or_statement_is_invalid(alice, bundle):
    keys = [read_key("alice", alice.public_pem)]
    document = json.loads(bundle)
    signature = base64.b64decode(document["dsseEnvelope"]["signatures"][0]["sig"])
    flipped = signature[:-1] + bytes([signature[-1] ^ 1])
    document["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(flipped).decode()
    assert verify_bundle(json.dumps(document).encode(), SHA256, keys).state == "INVALID"

    document = json.loads(bundle)
    statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["digest"] = hashlib.sha256(b"other").hexdigest()
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    document["dsseEnvelope"]["payload"] = payload
    assert verify_bundle(json.dumps(document).encode(), SHA256, keys).state == "INVALID"


@pytest.mark.parametrize(
    "malformed",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"{}",
        b'{"verificationMaterial": 3}',
        b'{"mediaType": "x", "verificationMaterial": {"publicKey": {"hint": "ab"}}}',
        b"{" * 10_000,
        b" " * (MAX_BUNDLE_BYTES + 1),
    ],
)
def test_a_malformed_bundle_is_invalid_not_an_error(alice, malformed):
    result = verify_bundle(malformed, SHA256, [read_key("alice", alice.public_pem)])
    assert result.state == SignatureState.INVALID
    assert result.detail


def test_a_certificate_bundle_verifies_against_its_trusted_ca():
    signer = CertificateSigner.new(signer="publisher.example")
    bundle = signer.sign(DATA)
    result = verify_bundle(bundle, SHA256, [read_key("ca", signer.ca_pem)])
    assert result.state == SignatureState.VERIFIED
    assert result.signer == "CN=publisher.example"

    other = CertificateSigner.new(ca_name="Other CA")
    assert verify_bundle(bundle, SHA256, [read_key("other", other.ca_pem)]).state == "UNTRUSTED"
    assert verify_bundle(bundle, SHA256, []).state == SignatureState.UNTRUSTED
    wrong = hashlib.sha256(DATA + b"!").hexdigest()
    assert verify_bundle(bundle, wrong, [read_key("ca", signer.ca_pem)]).state == "INVALID"


def test_read_key_takes_public_keys_and_certificates_and_says_what_else_is_wrong():
    signer = KeySigner.new()
    key = read_key("k", signer.public_pem)
    assert key.kind == "public-key"
    assert key.fingerprint == hashlib.sha256(signer.public_pem).hexdigest()
    ca = CertificateSigner.new()
    assert read_key("ca", ca.ca_pem).subject == "CN=Test CA"

    with pytest.raises(ValueError, match="private key"):
        read_key("k", private_pem(signer.key))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    rsa_pem = rsa_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="elliptic-curve"):
        read_key("rsa", rsa_pem)
    secp256k1 = ec.generate_private_key(ec.SECP256K1()).public_key()
    k1_pem = secp256k1.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="elliptic-curve"):
        read_key("k1", k1_pem)
    with pytest.raises(ValueError, match="PEM"):
        read_key("junk", b"hello")
    with pytest.raises(ValueError, match="one certificate"):
        read_key("two", ca.ca_pem + ca.ca_pem)
