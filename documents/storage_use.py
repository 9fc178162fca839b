"""How many bytes the repository's data takes, as the database counts them."""

from pymongo import AsyncMongoClient


async def live_bytes(client: AsyncMongoClient, *db_names: str) -> int:
    """Documents and indexes of the named databases (dbStats `dataSize` + `indexSize`)."""
    total = 0
    for name in db_names:
        stats = await client.get_database(name).command("dbStats")
        total += int(stats.get("dataSize", 0)) + int(stats.get("indexSize", 0))
    return total
