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
    """Bind the documents to `db_name`, create their unique indexes, and open the file store.

    Raises pymongo's DuplicateKeyError (OperationFailure) if existing data violates an index.
    """
    await init_beanie(database=client[db_name], document_models=DOCUMENTS)
    store = FileStore(client[grid_db_name], max_upload_bytes)
    await store.create_indexes()
    return store
