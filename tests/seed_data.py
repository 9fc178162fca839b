"""Data in the repository's layout to dump and restore, and ways to compare two databases."""

import io
import os

import bson
from bson.raw_bson import RawBSONDocument
from flrepo.documents.token import Token
from flrepo.seed.indexes import create_project_indexes
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient

from flrepo.settings import Settings


async def counts(client: AsyncMongoClient, settings: Settings) -> dict[str, int]:
    out = {}
    for prefix, name in (("db", settings.db_name), ("grid", settings.grid_db_name)):
        for coll in await client[name].list_collection_names():
            out[f"{prefix}.{coll}"] = await client[name][coll].count_documents({})
    return {k: v for k, v in out.items() if v}


async def populate(client: AsyncMongoClient, settings: Settings) -> dict[str, bytes]:
    """Data in the repository layout, files through GridFS; returns the files' bytes by name."""
    await create_project_indexes(client, settings.databases)  # as the server has them
    db, grid = client[settings.db_name], client[settings.grid_db_name]
    bucket = AsyncGridFSBucket(grid)
    files = {
        # 35 chunks; in a gzip dump, three gzip members
        "model/base/1": os.urandom(9_000_000),
        "model/base2/1": b"PK\x03\x04 small zip",
        "weights/base/1/conf-a": os.urandom(1000),
        "strategy/fault-tolerant-fedavg": b"\x80\x04pickled",
        "transformation/application.tests.categorical_transformation": b"\x80\x04t",
        "empty/file": b"",
    }
    ids = {}
    for name, data in files.items():
        ids[name] = str(await bucket.upload_from_stream(name, io.BytesIO(data)))
    await grid["fs.files"].update_one(
        {"filename": "weights/base/1/conf-a"}, {"$set": {"training_id": "t1"}}
    )
    await db.models.insert_many(
        [
            {
                "model_name": "base",
                "model_version": "1",
                "meta": {"library": "keras", "description": "é ünïcode"},
                "model_id": ids["model/base/1"],
            },
            {"model_name": "base2", "model_version": "1", "meta": None, "model_id": None},
        ]
    )
    await db.results.insert_one(
        {
            "model_name": "base",
            "model_version": "1",
            "training_id": "t1",
            "configuration_id": "conf-a",
            "results": {"rounds": "3", "accuracy": 0.24, "big": bson.Int64(2**40)},
            "weights_id": ids["weights/base/1/conf-a"],
        }
    )
    await db.strategies.insert_one(
        {
            "strategy_name": "fault-tolerant-fedavg",
            "strategy_description": None,
            "meta": {"a": "b"},
            "strategy_id": ids["strategy/fault-tolerant-fedavg"],
        }
    )
    await db.transformations.insert_one(
        {
            "id": "application.tests.categorical_transformation",
            "description": "d",
            "parameter_types": {"x": "int"},
            "default_values": {"x": [1, 2.5, None, {"y": True}]},
            "outputs": ["o"],
            "needs": {"storage": 1, "RAM": 2.5, "GPU": False},
            "storage_id": ids["transformation/application.tests.categorical_transformation"],
        }
    )
    return files


def unlabelled(raw: bytes) -> bytes:
    """A file document's bytes without its pickle scan (a restore scans the files anew)."""
    doc = bson.decode(raw, codec_options=bson.CodecOptions(document_class=dict))
    doc.pop("safety", None)
    return bson.encode(doc)


async def raw_snapshot(mongodb_url: str, settings: Settings) -> dict[str, list[bytes]]:
    """Every document's exact bytes, by collection, in _id order; file documents unlabelled.

    Token hashes are left out: dumps never hold them."""
    raw_client: AsyncMongoClient = AsyncMongoClient(mongodb_url, document_class=RawBSONDocument)
    out: dict[str, list[bytes]] = {}
    try:
        for prefix, name in (("db", settings.db_name), ("grid", settings.grid_db_name)):
            for coll in sorted(await raw_client[name].list_collection_names()):
                if coll == Token.Settings.name:
                    continue
                cursor = raw_client[name][coll].find().sort("_id", 1)
                docs = [doc.raw async for doc in cursor]
                if coll == "fs.files":
                    docs = [unlabelled(raw) for raw in docs]
                out[f"{prefix}.{coll}"] = docs
    finally:
        await raw_client.close()
    return out
