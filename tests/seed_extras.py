"""Collections with options and a view, beside the repository's own: what a restore must keep."""

from typing import Any

from flrepo.seed.collections import comparable
from pymongo import AsyncMongoClient

from flrepo.settings import Settings

CAPPED = {"capped": True, "size": 65536, "max": 5}
VALIDATOR = {"validator": {"$jsonSchema": {"required": ["name"]}}, "validationLevel": "strict"}
COLLATION = {"collation": {"locale": "en", "strength": 2}}
VIEW = {"viewOn": "models", "pipeline": [{"$match": {"model_name": "base"}}]}


async def add_extras(client: AsyncMongoClient, settings: Settings) -> None:
    """A capped collection, one with a validator, one with a collation, and a view."""
    db = client[settings.db_name]
    await db.create_collection("audit", **CAPPED)
    for i in range(8):  # the cap keeps the last 5
        await db.audit.insert_one({"event": i})
    await db.create_collection("checked", **VALIDATOR)
    await db.checked.insert_one({"name": "ok"})
    await db.create_collection("named", **COLLATION)
    await db.named.insert_one({"n": "Base"})
    await db.command({"create": "base_models", **VIEW})


async def definitions(client: AsyncMongoClient, db_name: str) -> dict[str, tuple[str, Any]]:
    """Each collection's and view's type and options (numbers compared by value)."""
    out = {}
    async for entry in await client[db_name].list_collections():
        out[entry["name"]] = (
            entry.get("type", "collection"),
            comparable(entry.get("options") or {}),
        )
    return out


def expected_extras() -> dict[str, tuple[str, Any]]:
    return {
        "audit": ("collection", comparable(CAPPED)),
        "checked": ("collection", comparable(VALIDATOR)),
        "named": ("collection", comparable(COLLATION)),
        "base_models": ("view", comparable(VIEW)),
    }
