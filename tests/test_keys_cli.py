"""`flrepo keys add|list|remove` and `flrepo verify` against the database a server uses."""

import os
import subprocess
import uuid

from helpers import GraphQL, running_app
from rest_fixtures import flrepo_command
from signers import CertificateSigner, KeySigner, private_pem

DATA = b"model bytes " * 1000
STATE = (
    "query($name: String!) "
    "{ strategy(strategyName: $name) { file { signature { state signer } } } }"
)


def flrepo(settings, mongodb_url, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "FLREPO_DB_NAME": settings.db_name,
        "FLREPO_GRID_DB_NAME": settings.grid_db_name,
    }
    return subprocess.run(
        [flrepo_command(), *args, "--mongodb-url", mongodb_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_keys_and_verify_follow_the_trusted_keys(settings, mongodb_url, db, tmp_path):
    alice, ca = KeySigner.new(), CertificateSigner.new(signer="publisher")
    (tmp_path / "alice.pub").write_bytes(alice.public_pem)
    (tmp_path / "ca.pem").write_bytes(ca.ca_pem)
    (tmp_path / "alice.key").write_bytes(private_pem(alice.key))
    (tmp_path / "bob.pub").write_bytes(KeySigner.new().public_pem)

    added = flrepo(settings, mongodb_url, "keys", "add", "alice", str(tmp_path / "alice.pub"))
    assert added.returncode == 0, added.stderr
    assert "public-key" in added.stdout
    stored = await db["signing_keys"].find_one({"name": "alice"})
    assert stored["pem"].encode() == alice.public_pem
    added = flrepo(settings, mongodb_url, "keys", "add", "ca", str(tmp_path / "ca.pem"))
    assert added.returncode == 0, added.stderr

    refused = flrepo(settings, mongodb_url, "keys", "add", "oops", str(tmp_path / "alice.key"))
    assert refused.returncode == 1 and "private key" in refused.stderr
    again = flrepo(settings, mongodb_url, "keys", "add", "alice2", str(tmp_path / "alice.pub"))
    assert again.returncode == 1 and "already trusted" in again.stderr
    taken = flrepo(settings, mongodb_url, "keys", "add", "alice", str(tmp_path / "bob.pub"))
    assert taken.returncode == 1 and "already exists" in taken.stderr
    missing = flrepo(settings, mongodb_url, "keys", "add", "x", str(tmp_path / "none.pem"))
    assert missing.returncode == 1

    listed = flrepo(settings, mongodb_url, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [row.split()[:2] for row in listed.stdout.splitlines()[1:]]
    assert rows == [["alice", "public-key"], ["ca", "certificate"]]
    assert "CN=Test CA" in listed.stdout

    by_key, by_certificate = f"a{uuid.uuid4().hex[:6]}", f"c{uuid.uuid4().hex[:6]}"
    async with running_app(settings, mongodb_url) as client:
        gql = GraphQL(client)
        for name, bundle in ((by_key, alice.sign(DATA)), (by_certificate, ca.sign(DATA))):
            assert (await client.post("/strategy", json={"strategy_name": name})).is_success
            files = [("file", ("m.bin", DATA)), ("signature", ("m.sig", bundle))]
            assert (await client.put(f"/strategy/{name}", files=files)).status_code == 204

        async def signature(name: str) -> dict:
            return (await gql.data(STATE, name=name))["strategy"]["file"]["signature"]

        assert await signature(by_key) == {"state": "VERIFIED", "signer": "alice"}
        assert await signature(by_certificate) == {"state": "VERIFIED", "signer": "CN=publisher"}

        removed = flrepo(settings, mongodb_url, "keys", "remove", "alice")
        assert removed.returncode == 0, removed.stderr
        gone = flrepo(settings, mongodb_url, "keys", "remove", "alice")
        assert gone.returncode == 1 and "not trusted" in gone.stderr
        assert (await signature(by_key))["state"] == "VERIFIED"  # until verified again
        verified = flrepo(settings, mongodb_url, "verify")
        assert verified.returncode == 0, verified.stderr
        assert "1 VERIFIED" in verified.stdout and "1 UNTRUSTED" in verified.stdout
        assert await signature(by_key) == {"state": "UNTRUSTED", "signer": None}
        assert (await signature(by_certificate))["state"] == "VERIFIED"
        download = await client.get(f"/strategy/{by_key}")
        assert download.headers["x-signature-state"] == "UNTRUSTED"

        readded = flrepo(settings, mongodb_url, "keys", "add", "alice", str(tmp_path / "alice.pub"))
        assert readded.returncode == 0, readded.stderr
        verified = flrepo(settings, mongodb_url, "verify")
        assert "2 VERIFIED" in verified.stdout, verified.stdout
        assert await signature(by_key) == {"state": "VERIFIED", "signer": "alice"}

        dumped = flrepo(settings, mongodb_url, "seed", "dump", str(tmp_path / "repo.dump"))
        assert dumped.returncode == 0, dumped.stderr
        assert "strategies" in dumped.stdout
        assert "signing_keys" not in dumped.stdout  # trust stays with the server
        assert b"signing_keys" not in (tmp_path / "repo.dump").read_bytes()
