"""`/strategy` routes: FL strategies and their pickled objects."""

from flrepo.graph.resolvers import strategies
from flrepo.rest_compat.bodies import StrategyBody, StrategyMetaBody
from flrepo.rest_compat.http import (
    Endpoint,
    created,
    files_of,
    json_body,
    listing,
    no_content,
    raw_file,
    upload,
)
from flrepo.transfer.digests import file_sha256
from starlette.requests import Request
from starlette.responses import Response


async def create(request: Request) -> Response:
    body = await json_body(request, StrategyBody)
    await strategies.create_strategy(body.strategy_name, body.strategy_description, body.meta)
    return created()


async def upload_file(request: Request) -> Response:
    sha256 = file_sha256(request.headers)
    source = await upload(request)
    await strategies.upload_strategy_file(
        files_of(request), request.path_params["name"], source, sha256
    )
    return no_content()


async def update_meta(request: Request) -> Response:
    body = await json_body(request, StrategyMetaBody)
    await strategies.update_strategy_meta(request.path_params["name"], body.meta)
    return no_content()


async def list_all(request: Request) -> Response:
    return listing(await strategies.list_strategies(limit=None))


async def download(request: Request) -> Response:
    strategy = await strategies.get_strategy(request.path_params["name"])
    return await raw_file(
        request, strategy and strategy.strategy_id, "no such strategy, or it has no file"
    )


async def delete(request: Request) -> Response:
    await strategies.delete_strategy(files_of(request), request.path_params["name"])
    return no_content()


TAG = "strategies"
ENDPOINTS = [
    Endpoint(
        "POST",
        "/strategy",
        create,
        "Create a strategy",
        TAG,
        201,
        StrategyBody,
        errors=(400, 422),
        slash=True,
    ),
    Endpoint(
        "PUT",
        "/strategy/meta/{name}",
        update_meta,
        "Replace a strategy's meta",
        TAG,
        204,
        StrategyMetaBody,
        errors=(404, 422),
    ),
    Endpoint(
        "PUT",
        "/strategy/{name}",
        upload_file,
        "Upload a strategy object",
        TAG,
        204,
        upload=True,
        errors=(404, 413, 422),
    ),
    Endpoint(
        "GET",
        "/strategy",
        list_all,
        "List strategies",
        TAG,
        slash=True,
        response={"type": "array", "items": {"$ref": "#/components/schemas/StrategyBody"}},
    ),
    Endpoint(
        "GET",
        "/strategy/{name}",
        download,
        "Download a strategy object",
        TAG,
        raw=True,
        errors=(404,),
    ),
    Endpoint(
        "DELETE",
        "/strategy/{name}",
        delete,
        "Delete a strategy and its object",
        TAG,
        204,
        errors=(404,),
    ),
]
