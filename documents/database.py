"""Connecting to MongoDB: Beanie on the metadata database, the file store on the grid database."""

from beanie import init_beanie
from pymongo import AsyncMongoClient

from documents.files import FileStore
from documents.ml_model import MLModel
from documents.strategy import Strategy
from documents.training_result import TrainingResult
from documents.transformation import Transformation

DOCUMENTS = [MLModel, TrainingResult, Strategy, Transformation]


async def init_database(
    client: AsyncMongoClient, db_name: str, grid_db_name: str, max_upload_bytes: int
) -> FileStore:
    """Bind the documents to `db_name`, create the indexes, and open the file store.

    Raises pymongo's DuplicateKeyError (OperationFailure) if existing data violates an index.
    """
    await init_beanie(database=client[db_name], document_models=DOCUMENTS, skip_indexes=True)
    await create_indexes(client, db_name, grid_db_name)
    return FileStore(client[grid_db_name], max_upload_bytes)


async def create_indexes(client: AsyncMongoClient, db_name: str, grid_db_name: str) -> None:
    """The documents' unique keys (API.md §1) and GridFS's indexes, without binding anything."""
    db = client[db_name]
    for document in DOCUMENTS:
        await db[document.Settings.name].create_indexes(document.Settings.indexes)
    await FileStore(client[grid_db_name], max_bytes=0).create_indexes()
