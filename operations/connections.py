"""Keyset pages of the lists that have no filters: strategies and transformations."""

from flrepo.documents.strategy import Strategy
from flrepo.documents.transformation import Transformation
from flrepo.operations.access import requires
from flrepo.operations.common import find_connection
from flrepo.operations.cursors import Page


@requires("read")
async def strategies_connection(first: int = 100, after: str | None = None) -> Page[Strategy]:
    return await find_connection(Strategy, {}, first, after)


@requires("read")
async def transformations_connection(
    first: int = 100, after: str | None = None
) -> Page[Transformation]:
    return await find_connection(Transformation, {}, first, after)
