"""All REST routes, in an order where fixed path segments win over parameters."""

from flrepo.rest_compat import files, models, results, strategies, transformations
from flrepo.rest_compat.bodies import (
    ModelBody,
    StrategyBody,
    TrainingResultBody,
    TransformationBody,
)
from flrepo.rest_compat.openapi import openapi_document, openapi_route
from starlette.routing import Route

ENDPOINTS = [
    *models.ENDPOINTS,
    *files.ENDPOINTS,
    *results.ENDPOINTS,
    *strategies.ENDPOINTS,
    *transformations.ENDPOINTS,
]


def routes() -> list[Route]:
    """Starlette routes of every endpoint, plus `/openapi.json`."""
    document = openapi_document(
        ENDPOINTS, [ModelBody, TrainingResultBody, StrategyBody, TransformationBody]
    )
    table = [route for endpoint in ENDPOINTS for route in endpoint.routes()]
    return [Route("/openapi.json", openapi_route(document), methods=["GET"]), *table]
