"""The original REST API (API.md §3) as a FastAPI application, over the same operations as
GraphQL: its routers, route for route, with the error answers and checks of transfer/."""

from fastapi import Depends, FastAPI
from flrepo.rest_compat import files, inference, models, results, strategies, transformations
from flrepo.rest_compat.runs import router as runs_router
from flrepo.transfer.error_answers import HANDLERS, method_not_allowed
from flrepo.transfer.request_checks import check_json_body, refuse_encoded_slash

ROUTERS = [m.router for m in (models, files, results, strategies, transformations)]
ROUTERS += [inference.services, inference.inferencers]
ROUTERS.insert(0, runs_router)  # first: see RunRoute
ROUTES = [route for router in ROUTERS for route in router.routes]


def rest_app() -> FastAPI:
    """The REST routes; the file store is read from `app.state.files`."""
    app = FastAPI(
        title="FL Repository REST API",
        version="1.0",
        description="The original REST routes; GraphQL is at /graphql.",
        docs_url=None,  # /docs is served by the explorer, from local assets
        redoc_url=None,
        strict_content_type=False,  # a JSON body without Content-Type is read, as it always was
        dependencies=[Depends(refuse_encoded_slash), Depends(check_json_body)],
        exception_handlers={**HANDLERS, 405: method_not_allowed(ROUTES)},
    )
    for router in ROUTERS:
        app.include_router(router)
    return app
