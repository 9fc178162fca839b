"""`/strategy` routes: FL strategies and their pickled objects."""

from fastapi import APIRouter
from flrepo.operations import strategies, streams
from flrepo.rest_compat.bodies import Name, StrategyBody, StrategyMetaBody
from flrepo.rest_compat.common import CREATED, UPDATED, listing
from flrepo.rest_compat.file_routes import add_file_routes
from starlette.responses import Response

router = APIRouter(tags=["strategies"])


@router.post("/strategy", summary="Create a strategy", **CREATED)
@router.post("/strategy/", status_code=201, include_in_schema=False)
async def create(body: StrategyBody) -> None:
    await strategies.create_strategy(**dict(body))


@router.put("/strategy/meta/{name}", summary="Replace a strategy's meta", **UPDATED)
async def update_meta(name: Name, body: StrategyMetaBody) -> None:
    await strategies.update_strategy_meta(name, body.meta)


@router.get("/strategy", summary="List strategies", response_model=list[StrategyBody])
@router.get("/strategy/", include_in_schema=False)
async def list_all() -> Response:
    return listing(await streams.stream_strategies())


FILE_ROUTES = [
    ("PUT", "/strategy/{name}", "Upload a strategy object"),
    ("GET", "/strategy/{name}", "Download a strategy object"),
    ("DELETE", "/strategy/{name}", "Delete a strategy and its object"),
]
operations = (strategies.get_strategy, strategies.upload_strategy_file, strategies.delete_strategy)
add_file_routes(router, FILE_ROUTES, *operations)
