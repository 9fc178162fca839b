"""A write never destroys: a replaced file becomes a revision, which `write` may restore and
only `delete` may purge; deleting a document deletes its revisions; revisions expire."""

import hashlib
from datetime import timedelta

import pytest
from bson import ObjectId
from flrepo.documents.integrity import Repository, check, sweep
from flrepo.seed.dump import dump
from flrepo.seed.restore import restore
from helpers import GraphQL, running_app
from revision_kinds import KINDS, REVISION_FIELDS, Kind


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


async def state(gql: GraphQL, kind: Kind) -> dict:
    fields = f"{kind.files} {{ sha256 }} revisions {{ {REVISION_FIELDS} }}"
    return (await gql.data(kind.query(fields)))["doc"]


async def test_a_replaced_file_is_kept_restored_and_purged(client, gql, kind, db, grid):
    await kind.create(client)
    assert (await kind.upload(client, b"first")).status_code == 204
    assert (await state(gql, kind))["revisions"] == []
    assert (await kind.upload(client, b"second")).status_code == 204

    now = await state(gql, kind)
    assert now[kind.files]["sha256"] == sha(b"second")
    [kept] = now["revisions"]
    assert kept["file"]["sha256"] == sha(b"first") and kept["replacedBy"] == "anonymous"
    stored = await db.file_revisions.find_one({})
    assert stored["collection"] == kind.collection and stored["field"] == kind.file_field
    assert stored["file_id"] == kept["file"]["id"]
    # The original's fields of the document stay as the original writes them.
    doc = await db[kind.collection].find_one({})
    assert "revisions" not in doc and isinstance(doc[kind.file_field], str)

    restored = await gql.data(kind.restore_mutation(f"{kind.files} {{ sha256 }}"), r=kept["id"])
    assert restored["doc"][kind.files]["sha256"] == sha(b"first")
    after = await state(gql, kind)
    assert after[kind.files]["sha256"] == sha(b"first")
    [swapped] = after["revisions"]
    assert swapped["file"]["sha256"] == sha(b"second") and swapped["id"] != kept["id"]
    # A revision that was restored is gone; restoring it again is NOT_FOUND.
    again = await gql.error(kind.restore_mutation(kind.keys), r=kept["id"])
    assert again["extensions"]["code"] == "NOT_FOUND"

    assert await gql.data("mutation($r: ID!) { purgeRevision(revision: $r) }", r=swapped["id"])
    assert (await state(gql, kind))["revisions"] == []
    assert await grid["fs.files"].count_documents({}) == 1
    assert await grid["fs.chunks"].count_documents({}) == 1
    purged = await gql.error("mutation($r: ID!) { purgeRevision(revision: $r) }", r=swapped["id"])
    assert purged["extensions"]["code"] == "NOT_FOUND"


async def test_deleting_a_document_deletes_its_revisions(client, gql, kind, db, grid):
    await kind.create(client)
    for data in (b"a", b"b", b"c"):
        assert (await kind.upload(client, data)).status_code == 204
    assert len((await state(gql, kind))["revisions"]) == 2
    assert await grid["fs.files"].count_documents({}) == 3
    delete = "/training-results/m/1/t" if kind.name == "weights" else kind.upload_path
    assert (await client.delete(delete)).status_code == 204
    assert await db.file_revisions.count_documents({}) == 0
    assert await grid["fs.files"].count_documents({}) == 0
    assert await grid["fs.chunks"].count_documents({}) == 0


async def test_revisions_list_newest_first_in_pages(client, gql, db):
    kind = KINDS["strategy"]
    await kind.create(client)
    for n in range(5):
        assert (await kind.upload(client, b"v%d" % n)).status_code == 204
    data = await gql.data(
        kind.query(
            "all: revisions { file { sha256 } } page: revisions(limit: 2, offset: 1) "
            "{ file { sha256 } }"
        )
    )
    shas = [r["file"]["sha256"] for r in data["doc"]["all"]]
    assert shas == [sha(b"v%d" % n) for n in (3, 2, 1, 0)]
    assert [r["file"]["sha256"] for r in data["doc"]["page"]] == shas[1:3]
    too_many = await gql.error(kind.query("revisions(limit: 1001) { id }"))
    assert too_many["extensions"]["code"] == "BAD_USER_INPUT"


async def test_restore_checks_the_revision_belongs_to_the_document(client, gql):
    model, strategy = KINDS["model"], KINDS["strategy"]
    for kind in (model, strategy):
        await kind.create(client)
        for data in (b"one", b"two"):
            assert (await kind.upload(client, data)).status_code == 204
    [revision] = (await state(gql, strategy))["revisions"]
    wrong = await gql.error(model.restore_mutation(model.keys), r=revision["id"])
    assert wrong["extensions"]["code"] == "NOT_FOUND"
    bad = await gql.error(model.restore_mutation(model.keys), r="not-an-id")
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"
    absent = await gql.error(model.restore_mutation(model.keys), r=str(ObjectId()))
    assert absent["extensions"]["code"] == "NOT_FOUND"
    assert (await state(gql, strategy))[strategy.files]["sha256"] == sha(b"two")


async def test_the_sweep_removes_revisions_past_their_retention(client, gql, db, grid):
    kind = KINDS["model"]
    await kind.create(client)
    for data in (b"old", b"new"):
        assert (await kind.upload(client, data)).status_code == 204
    repo = Repository(db, grid)
    assert await sweep(repo, 3600, orphans=True, retention=timedelta(days=7)) == []
    assert await db.file_revisions.count_documents({}) == 1

    removed = await sweep(repo, 3600, orphans=False, retention=timedelta(0))
    assert [f.kind for f in removed] == ["expired revision"]
    assert await db.file_revisions.count_documents({}) == 0
    assert await grid["fs.files"].count_documents({}) == 1  # the current file stays
    assert (await state(gql, kind))[kind.files]["sha256"] == sha(b"new")


async def test_check_counts_revision_files_as_referenced_and_reports_lost_ones(
    client, gql, db, grid
):
    kind = KINDS["transformation"]
    await kind.create(client)
    for data in (b"old", b"new"):
        assert (await kind.upload(client, data)).status_code == 204
    repo = Repository(db, grid)
    assert (await check(repo, grace_s=0, repair=False)).findings == []

    revision = await db.file_revisions.find_one({})
    await grid["fs.files"].delete_one({"_id": ObjectId(revision["file_id"])})
    await grid["fs.chunks"].delete_many({"files_id": ObjectId(revision["file_id"])})
    report = await check(repo, grace_s=0, repair=True)
    assert [f.kind for f in report.findings] == ["revision of a missing file"]
    assert report.repaired == report.findings
    assert await db.file_revisions.count_documents({}) == 0
    assert (await check(repo, grace_s=0, repair=False)).findings == []


async def test_a_dump_and_restore_keep_revisions_with_their_files(
    client, gql, db, settings, target, mongo, mongodb_url, tmp_path
):
    kind = KINDS["weights"]
    await kind.create(client)
    for data in (b"w1", b"w2", b"w3"):
        assert (await kind.upload(client, data)).status_code == 204
    path = tmp_path / "db.dump"
    report = await dump(settings.databases, mongodb_url, path)
    assert report.namespaces["repository.file_revisions"] == 2

    restored = await restore(target.databases, mongodb_url, path)
    assert restored.skipped == 0
    restored_db, restored_grid = mongo[target.db_name], mongo[target.grid_db_name]
    before = [r async for r in db.file_revisions.find().sort("_id", 1)]
    assert [r async for r in restored_db.file_revisions.find().sort("_id", 1)] == before
    repo = Repository(restored_db, restored_grid)
    assert (await check(repo, grace_s=0, repair=False)).findings == []  # none is an orphan
    async with running_app(target, mongodb_url) as other:
        shown = await state(GraphQL(other), kind)
    assert [r["file"]["sha256"] for r in shown["revisions"]] == [sha(b"w2"), sha(b"w1")]
