"""Revisions: the files a document held before, restored (write) or purged (delete)."""

from typing import Any

from bson import ObjectId
from flrepo.documents.errors import InvalidInput, NotFound
from flrepo.documents.files import FileStore, object_id
from flrepo.documents.inference import Inferencer, Service
from flrepo.documents.ml_model import MLModel
from flrepo.documents.revisions import drop, keep, key_of
from flrepo.documents.strategy import Strategy
from flrepo.documents.training_result import TrainingResult
from flrepo.documents.transformation import Transformation
from flrepo.operations.access import current_caller, requires
from flrepo.operations.common import D, FileTarget, Overtaken, revision_collections
from flrepo.operations.inference import inferencer_file_target, service_file_target
from flrepo.operations.models import model_file_target
from flrepo.operations.results import result_key
from flrepo.operations.strategies import strategy_file_target
from flrepo.operations.transformations import transformation_file_target
from pymongo.asynchronous.client_session import AsyncClientSession


def revision_oid(revision: str) -> ObjectId:
    oid = object_id(revision)
    if oid is None:
        raise InvalidInput("a revision id is 24 hexadecimal digits")
    return oid


async def restore(files: FileStore, target: FileTarget[D], revision: str) -> D:
    """Make the file of `revision` the document's file again; the file it replaces becomes a
    revision in turn. One transaction where the server has them."""
    oid = revision_oid(revision)
    owners, revisions = revision_collections(files)
    name = target.cls.get_collection_name()
    collection, id_field, by = owners[name], target.id_field, current_caller().name

    async def swap(session: AsyncClientSession | None) -> dict[str, Any]:
        doc = await collection.find_one(target.query, session=session)
        if doc is None:
            raise NotFound(f"{target.what} does not exist")
        mine = {"_id": oid, "collection": name, "key": key_of(name, doc)}
        earlier = await revisions.find_one(mine, session=session)
        if earlier is None:
            raise NotFound(f"{target.what} has no revision {revision}")
        file_id = earlier["file_id"]
        if file_id != doc.get(id_field):  # else an interrupted restore had swapped already
            if not await files.files.find_one({"_id": object_id(file_id)}, session=session):
                raise NotFound(f"the file of revision {revision} no longer exists")
            swapped = await collection.update_one(
                {"_id": doc["_id"], id_field: doc.get(id_field)},
                {"$set": {id_field: file_id}},
                session=session,
            )
            if not swapped.matched_count:
                raise Overtaken
            await keep(revisions, files, name, doc, id_field, by, session)
        await revisions.delete_one({"_id": oid}, session=session)
        return {**doc, id_field: file_id}

    while True:
        try:
            return target.cls.model_validate(await files.in_transaction(swap))
        except Overtaken:
            continue


@requires("write")
async def restore_model_file(
    files: FileStore, model_name: str, model_version: str, revision: str
) -> MLModel:
    return await restore(files, model_file_target(model_name, model_version), revision)


@requires("write")
async def restore_training_weights(
    files: FileStore, model_name: str, model_version: str, training_id: str, revision: str
) -> TrainingResult:
    key = result_key(model_name, model_version, training_id)
    what = f"training result {training_id!r} of model {model_name!r} version {model_version!r}"
    target = FileTarget(TrainingResult, key, TrainingResult.FILE_FIELD, "", what)
    return await restore(files, target, revision)


@requires("write")
async def restore_strategy_file(files: FileStore, strategy_name: str, revision: str) -> Strategy:
    return await restore(files, strategy_file_target(strategy_name), revision)


@requires("write")
async def restore_transformation_file(
    files: FileStore, transformation_id: str, revision: str
) -> Transformation:
    return await restore(files, transformation_file_target(transformation_id), revision)


@requires("write")
async def restore_service_file(files: FileStore, service_id: str, revision: str) -> Service:
    return await restore(files, service_file_target(service_id), revision)


@requires("write")
async def restore_inferencer_file(
    files: FileStore, inferencer_id: str, revision: str
) -> Inferencer:
    return await restore(files, inferencer_file_target(inferencer_id), revision)


@requires("delete")
async def purge_revision(files: FileStore, revision: str) -> bool:
    """Remove a revision and its file for good."""
    oid = revision_oid(revision)
    owners, revisions = revision_collections(files)

    async def purge(session: AsyncClientSession | None) -> bool:
        found = await revisions.find_one({"_id": oid}, session=session)
        return found is not None and await drop(owners, revisions, files, found, session)

    if not await files.in_transaction(purge):
        raise NotFound(f"revision {revision} does not exist")
    return True
