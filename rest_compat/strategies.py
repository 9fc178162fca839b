"""`/strategy` routes: FL strategies and their pickled objects."""

from fastapi import APIRouter
from flrepo.operations import strategies
from flrepo.rest_compat.bodies import Name, StrategyBody, StrategyMetaBody
from flrepo.rest_compat.common import errors, listing
from flrepo.rest_compat.file_routes import FileRoute, add_file_routes
from starlette.responses import Response

router = APIRouter(tags=["strategies"])
FILE = "/strategy/{name}"


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


@router.get("/strategy", summary="List strategies", response_model=list[StrategyBody])
@router.get("/strategy/", include_in_schema=False)
async def list_all() -> Response:
    return listing(await strategies.list_strategies(limit=None))


add_file_routes(
    router,
    [
        FileRoute("PUT", FILE, "Upload a strategy object"),
        FileRoute("GET", FILE, "Download a strategy object"),
        FileRoute("DELETE", FILE, "Delete a strategy and its object"),
    ],
    find=strategies.get_strategy,
    upload=strategies.upload_strategy_file,
    delete=strategies.delete_strategy,
    missing="no such strategy, or it has no file",
)
