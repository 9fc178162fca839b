"""Every GraphQL error gets an `extensions.code`; unexpected ones are logged and masked."""

import logging
import re
from collections.abc import Iterator

from flrepo.documents.errors import RepositoryError, TooManyRequests
from flrepo.graph.reporting import report_operation
from graphql.error import GraphQLError
from pydantic import ValidationError
from strawberry.extensions import MaskErrors

log = logging.getLogger("flrepo.graphql")
# The parser's own limits: tokens (set by MaxTokensLimiter) and nesting.
PARSER_LIMITS = ("Document contains more than", "Document is nested too deeply")
TOO_COMPLEX = "The query is too long or nested too deeply to process"
# What Strawberry's depth and alias limiters report (uncoded), said as this API says it.
LIMITERS = {
    re.compile(r"'\w+' exceeds maximum operation depth of (\d+)"): (
        "The query nests fields deeper than {} levels"
    ),
    re.compile(r"\d+ aliases found\. Allowed: (\d+)"): "The query uses more than {} aliases",
}


class ErrorCodes(MaskErrors):
    """Domain errors keep their message and code; anything else becomes INTERNAL_SERVER_ERROR.
    Each executed operation is also reported to the metrics (`report_operation`): here rather
    than in an extension of its own, since Strawberry enters every extension's hooks on every
    request."""

    def __init__(self) -> None:
        super().__init__(error_message="Internal server error.")

    def on_execute(self) -> Iterator[None]:
        """After execution only: a query that did not parse or validate is not reported."""
        yield
        report_operation(self.execution_context)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        """Each error with its code; a query over a limit gets one error, for the first limit
        it passed (the depth limiter reports every field too deep, amid validation errors)."""
        coded = [self._with_code(error) for error in errors]
        limits = [
            e for e in coded if e.path is None and e.extensions["code"] == "QUERY_TOO_COMPLEX"
        ]
        return limits[:1] or coded

    def _with_code(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if error.extensions and "code" in error.extensions:
            return error  # coded where it was raised (the object estimate)
        for pattern, message in LIMITERS.items():
            if original is None and (match := pattern.fullmatch(error.message)):
                code = {"code": "QUERY_TOO_COMPLEX"}
                return GraphQLError(message.format(match[1]), extensions=code)
        if isinstance(original, RecursionError):  # nesting Python cannot recurse into
            error = GraphQLError(TOO_COMPLEX, error.nodes, error.source, error.positions)
            code = "QUERY_TOO_COMPLEX"
        elif any(limit in error.message for limit in PARSER_LIMITS):
            code = "QUERY_TOO_COMPLEX"
        elif isinstance(original, RepositoryError):
            code = original.code
            if isinstance(original, TooManyRequests):  # as REST's Retry-After, in seconds
                error.extensions = {**(error.extensions or {}), "retryAfter": original.retry_after}
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
