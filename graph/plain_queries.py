"""Plain queries: one query sent by POST as a JSON object, run straight on graphql-core.

For a small query, Strawberry's HTTP view and `Schema.execute` cost as much per request as
all the rest (an execution context, an extension runner, a context manager per hook). A
query that parses, validates and fits the limits needs none of that, so it runs here with
the same caches, validation rules, object estimate, error codes and metrics as the
extensions that `make_schema` installs. Anything else (mutations, subscriptions, uploads,
batches, GET, a document that does not parse, validate or fit) goes Strawberry's way, so
that each refusal is made in one place.
"""

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from flrepo.graph.cache import CachedParser
from flrepo.graph.cost import Limits, TooComplex, check_cost, graphql_schema, query_limits
from flrepo.graph.errors import ErrorCodes
from flrepo.graph.literals import long_number
from flrepo.graph.reporting import report_fields
from flrepo.transfer import jsonbody
from graphql import DocumentNode, OperationType, get_operation_ast, specified_rules
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from strawberry import Schema
from strawberry.execution import optimized_is_awaitable
from strawberry.schema._graphql_core import execution_context_class_kwargs
from strawberry.utils.await_maybe import await_maybe

KEYS = {"query", "variables", "operationName"}
STREAMED = ("multipart/", "text/event-stream")  # answers Strawberry streams

Fallback = Callable[[Scope, Receive, Send], Awaitable[None]]
ContextOf = Callable[[Request], Awaitable[Any]]


class PlainQueries:
    """Runs plain queries; hands every other request, body included, to `fallback`."""

    def __init__(self, schema: Schema, limits: Limits, context_of: ContextOf) -> None:
        self.schema = schema
        self.limits = limits
        self.context_of = context_of
        self.parse = CachedParser(maxsize=256).cached_parse_document
        checks = query_limits(limits)()
        self.validate = checks.cached_validate_document
        # the rules QueryLimits adds to Strawberry's defaults: the same validation cache entries
        self.rules = (*specified_rules, *checks.rules)
        self.execute = schema._get_execute_function()
        self.errors = ErrorCodes()
        self.checked = functools.lru_cache(maxsize=256)(self._check)

    @staticmethod
    def wanted(scope: Scope) -> bool:
        """A POST of JSON whose answer is not streamed: possibly a plain query."""
        if scope["method"] != "POST":
            return False
        headers = dict(scope["headers"])
        media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        accept = headers.get(b"accept", b"").decode("latin-1").lower()
        return media == b"application/json" and not any(kind in accept for kind in STREAMED)

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, fallback: Fallback
    ) -> None:
        body, last = await _read(receive)
        plain = self._plain(body)
        if plain is None:
            await fallback(scope, _replay(body, last, receive), send)
            return
        document, name, variables = plain
        context = await self.context_of(Request(scope, _replay(body, last, receive)))
        result = await await_maybe(
            self.execute(
                self.schema._schema,
                document,
                root_value=None,
                context_value=context,
                variable_values=variables,
                operation_name=name,
                is_awaitable=optimized_is_awaitable,
                operation_extensions=None,
                **execution_context_class_kwargs(self.schema.execution_context_class),
            )
        )
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            errors = self.errors._process_errors(result.errors)
            answer["errors"] = [error.formatted for error in errors]
        if context.report is not None:
            report_fields(context.report, "query", document, name, not result.errors)
        # Strawberry's own encoding of the answer, so that both ways give the same bytes
        content = json.dumps(answer, separators=(",", ":"))
        await Response(content, media_type="application/json")(scope, receive, send)

    def _plain(self, body: bytes) -> tuple[DocumentNode, str | None, dict[str, Any] | None] | None:
        """The document, operation name and variables of a plain query, else None."""
        try:
            data = jsonbody.loads(body)
        except jsonbody.JSONBodyError:
            return None
        if not isinstance(data, dict) or not set(data) <= KEYS:
            return None
        query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
        if not isinstance(query, str) or not isinstance(variables, dict | None):
            return None
        if not isinstance(name, str | None):
            return None
        checked = self.checked(query, name)
        if checked is None:
            return None
        document, fits = checked
        if variables:  # the object estimate reads the limits that variables set
            try:
                check_cost(
                    graphql_schema(self.schema), document, name, variables,
                    self.limits.max_objects,
                )  # fmt: skip
            except TooComplex:
                return None
        elif not fits:
            return None
        return document, name, variables

    def _check(self, query: str, name: str | None) -> tuple[DocumentNode, bool] | None:
        """The document of a query that fits the size, parses, holds the named query operation
        and validates, and whether it fits the object estimate without variables; else None.
        Kept for the next request of the same text (`checked`)."""
        if len(query.encode()) > self.limits.max_bytes or long_number(query) is not None:
            return None
        try:
            document = self.parse(query, max_tokens=self.limits.max_tokens)
        except Exception:  # a syntax error, too many tokens: Strawberry's way reports it
            return None
        operation = get_operation_ast(document, name)
        if operation is None or operation.operation != OperationType.QUERY:
            return None
        if self.validate(self.schema._schema, document, self.rules):
            return None
        try:
            check_cost(graphql_schema(self.schema), document, name, {}, self.limits.max_objects)
        except TooComplex:
            return document, False
        return document, True


async def _read(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body (bounded by the BodyLimit middleware), and a message that ended it
    early (a disconnect), if one did."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body), message
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body), None


def _replay(body: bytes, last: Message | None, receive: Receive) -> Receive:
    """A receive that gives `body` again, then what `receive` gives."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if last is not None:
        pending = [last]

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
