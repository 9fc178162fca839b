"""`/strategy` routes: FL strategies and their pickled objects."""

from fastapi import APIRouter, Request
from flrepo.operations import strategies
from flrepo.rest_compat.bodies import Name, StrategyBody, StrategyMetaBody
from flrepo.rest_compat.common import (
    MULTIPART,
    RAW,
    Digest,
    Files,
    Upload,
    errors,
    listing,
    raw_file,
)
from starlette.responses import Response

router = APIRouter(tags=["strategies"])


@router.post("/strategy", status_code=201, summary="Create a strategy", responses=errors(400, 415))
@router.post("/strategy/", status_code=201, include_in_schema=False)
async def create(body: StrategyBody) -> None:
    await strategies.create_strategy(**dict(body))


@router.put(
    "/strategy/meta/{name}",
    status_code=204,
    summary="Replace a strategy's meta",
    responses=errors(400, 404, 415),
)
async def update_meta(name: Name, body: StrategyMetaBody) -> None:
    await strategies.update_strategy_meta(name, body.meta)


@router.put(
    "/strategy/{name}",
    status_code=204,
    summary="Upload a strategy object",
    responses=errors(404, 413),
    openapi_extra=MULTIPART,
)
async def upload_file(name: Name, files: Files, source: Upload, sha256: Digest) -> None:
    await strategies.upload_strategy_file(files, name, source, sha256)


@router.get("/strategy", summary="List strategies", response_model=list[StrategyBody])
@router.get("/strategy/", include_in_schema=False)
async def list_all() -> Response:
    return listing(await strategies.list_strategies(limit=None))


@router.head("/strategy/{name}", include_in_schema=False)
@router.get(
    "/strategy/{name}",
    summary="Download a strategy object",
    response_class=Response,
    responses={**RAW, **errors(404)},
)
async def download(name: Name, files: Files, request: Request) -> Response:
    strategy = await strategies.get_strategy(name)
    return await raw_file(
        request, files, strategy and strategy.strategy_id, "no such strategy, or it has no file"
    )


@router.delete(
    "/strategy/{name}",
    status_code=204,
    summary="Delete a strategy and its object",
    responses=errors(404),
)
async def delete(name: Name, files: Files) -> None:
    await strategies.delete_strategy(files, name)
