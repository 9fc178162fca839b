"""The original REST API (API.md §3) as a FastAPI application, over the same operations as
GraphQL: its routers, route for route, with the error answers and checks of transfer/."""

from collections.abc import Sequence

from fastapi import APIRouter, Depends, FastAPI
from flrepo.rest_compat import files, inference, models, results, strategies, transformations
from flrepo.transfer.error_answers import HANDLERS, method_not_allowed
from flrepo.transfer.request_checks import check_request

ROUTERS = [m.router for m in (models, files, results, strategies, transformations)]
ROUTERS += [inference.services, inference.inferencers]


def rest_app(first: Sequence[APIRouter] = ()) -> FastAPI:
    """The REST routes, `first`'s before the original's, so that theirs are matched first;
    the file store is read from `app.state.files`."""
    routers = [*first, *ROUTERS]
    app = FastAPI(
        title="FL Repository REST API",
        version="1.0",
        description="The original REST routes; GraphQL is at /graphql.",
        docs_url=None,  # /docs is served by the explorer, from local assets
        redoc_url=None,
        strict_content_type=False,  # a JSON body without Content-Type is read, as it always was
        dependencies=[Depends(check_request)],
        exception_handlers={
            **HANDLERS,
            405: method_not_allowed([route for router in routers for route in router.routes]),
        },
    )
    for router in routers:
        app.include_router(router)
    return app
