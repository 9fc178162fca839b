"""A tus upload's id is random, and the upload is its creator's: any other caller (another
address, another token, on any replica) gets 404 as for an unknown id; a caller without a
token asking for a token's upload gets 401."""

import re

from bson import ObjectId
from callers import TUS, caller, make_model, make_token, serving, tus_create, tus_patch
from flrepo.documents.upload_registry import now


async def tries(client, url: str) -> list[int]:
    """HEAD, PATCH and DELETE of `url` by `client`: their statuses."""
    head = await client.head(url, headers=TUS)
    patch = await tus_patch(client, url, 0, b"intruder")
    delete = await client.delete(url, headers=TUS)
    return [head.status_code, patch.status_code, delete.status_code]


async def test_ids_are_random_and_unguessable(settings, mongodb_url):
    async with serving(settings, mongodb_url) as app, caller(app) as a:
        await make_model(a, "m")
        ids = [
            (await tus_create(a, "m", 10)).headers["location"].rsplit("/", 1)[-1] for _ in range(5)
        ]
    for upload_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", upload_id)  # 16 random bytes, base64url
        assert not ObjectId.is_valid(upload_id)
    assert len(set(ids)) == 5
    assert len({i[:8] for i in ids}) == 5  # no shared, counting prefix as ObjectIds have


async def test_another_caller_gets_404_on_every_replica(settings, mongodb_url):
    data = b"the owner's bytes"
    async with (
        serving(settings, mongodb_url) as one,
        serving(settings, mongodb_url) as two,
        caller(one, "10.0.0.1") as owner,
    ):
        await make_model(owner, "m")
        secret = await make_token(owner, "t-other")
        url = (await tus_create(owner, "m", len(data))).headers["location"]
        unknown = url.rsplit("/", 1)[0] + "/AAAAAAAAAAAAAAAAAAAAAA"
        for app in (one, two):
            async with caller(app, "10.0.0.2") as other_address:
                assert await tries(other_address, url) == [404, 404, 404]
                assert await tries(other_address, unknown) == [404, 404, 404]
            async with caller(app, "10.0.0.1", secret) as other_token:  # same address
                assert await tries(other_token, url) == [404, 404, 404]
        # the upload is untouched, and its owner continues it on the other replica
        async with caller(two, "10.0.0.1") as owner_there:
            head = await owner_there.head(url, headers=TUS)
            assert head.status_code == 200 and head.headers["upload-offset"] == "0"
            assert (await tus_patch(owner_there, url, 0, data)).status_code == 204
            assert (await owner_there.get("/model/m/1")).content == data


async def test_a_tokens_upload_is_its_alone_and_anonymous_callers_are_asked_for_it(
    settings, mongodb_url
):
    async with serving(settings, mongodb_url) as app, caller(app) as anonymous:
        await make_model(anonymous, "m")
        alice = await make_token(anonymous, "alice")
        bob = await make_token(anonymous, "bob")
        async with caller(app, "10.0.0.9", alice) as alice_elsewhere:
            url = (await tus_create(alice_elsewhere, "m", 4)).headers["location"]
        async with caller(app, "10.0.0.1", bob) as as_bob:
            assert await tries(as_bob, url) == [404, 404, 404]
        head = await anonymous.head(url, headers=TUS)  # from the very address alice used too
        assert head.status_code == 401 and head.headers["www-authenticate"] == "Bearer"
        async with caller(app, "10.0.0.1", alice) as as_alice:  # a token, from anywhere
            assert (await tus_patch(as_alice, url, 0, b"abcd")).status_code == 204
            assert (await as_alice.get("/model/m/1")).content == b"abcd"


async def test_an_upload_an_earlier_version_began_stays_reachable_by_its_id(
    settings, mongodb_url, grid
):
    async with serving(settings, mongodb_url) as app, caller(app) as a:
        await make_model(a, "m")
        url = (await tus_create(a, "m", 3)).headers["location"]
        doc = await grid["resumable_uploads"].find_one({"tusId": url.rsplit("/", 1)[-1]})
        legacy = {k: v for k, v in doc.items() if k not in ("tusId", "owner")}
        legacy["_id"] = oid = ObjectId()
        legacy["expires"] = now().replace(year=now().year + 1)
        await grid["resumable_uploads"].insert_one(legacy)
        old_url = f"/uploads/{oid}"
        assert (await a.head(old_url, headers=TUS)).status_code == 200
        assert (await tus_patch(a, old_url, 0, b"old")).status_code == 204
        # an ObjectId never finds an upload that has a random id
        assert (await a.head(f"/uploads/{doc['_id']}", headers=TUS)).status_code == 404
