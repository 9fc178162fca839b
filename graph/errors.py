"""Every GraphQL error gets an `extensions.code`; unexpected ones are logged and masked."""

import logging

from flrepo.documents.errors import RepositoryError
from graphql.error import GraphQLError
from pydantic import ValidationError
from strawberry.extensions import MaskErrors

log = logging.getLogger("flrepo.graphql")
# The parser's own limits: tokens (set by CostLimits) and nesting.
PARSER_LIMITS = ("Document contains more than", "Document is nested too deeply")
TOO_COMPLEX = "The query is too long or nested too deeply to process"


class ErrorCodes(MaskErrors):
    """Domain errors keep their message and code; anything else becomes INTERNAL_SERVER_ERROR."""

    def __init__(self) -> None:
        super().__init__(error_message="Internal server error.")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._with_code(error) for error in errors]

    def _with_code(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if error.extensions and "code" in error.extensions:
            return error  # coded where it was raised (cost limits)
        if isinstance(original, RecursionError):  # nesting Python cannot recurse into
            error = GraphQLError(TOO_COMPLEX, error.nodes, error.source, error.positions)
            code = "QUERY_TOO_COMPLEX"
        elif any(limit in error.message for limit in PARSER_LIMITS):
            code = "QUERY_TOO_COMPLEX"
        elif isinstance(original, RepositoryError):
            code = original.code
        elif isinstance(original, ValidationError):  # an input that its document refuses
            error = GraphQLError(_describe(original), error.nodes, path=error.path)
            code = "BAD_USER_INPUT"
        elif original is None or isinstance(original, GraphQLError):
            code = "BAD_USER_INPUT"  # syntax, validation and variable errors
        else:
            log.error("unexpected error in %s", error.path, exc_info=original)
            error = self.anonymise_error(error)
            code = "INTERNAL_SERVER_ERROR"
        error.extensions = {**(error.extensions or {}), "code": code}
        return error


def _describe(exc: ValidationError) -> str:
    """The input's problems in a sentence, without Python's names for them."""
    problems = (
        f"{'.'.join(str(part) for part in e['loc']) or 'input'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )
    return "invalid input: " + "; ".join(problems)
