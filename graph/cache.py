"""Parsed documents cached across requests, with parse errors still reported as coded errors."""

import contextlib
from collections.abc import Iterator

from strawberry.extensions import ParserCache


class CachedParser(ParserCache):
    """Strawberry's ParserCache, except that a document that fails to parse is left unparsed.

    ParserCache raises the parse error from its hook, outside the operation, so the error would
    skip ErrorCodes; left unparsed, the schema parses it again and reports the error as usual.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(Exception):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield
