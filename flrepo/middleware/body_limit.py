"""Bounded request bodies: a body the server parses whole is refused past its limit."""

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flrepo.transfer import numbers

# Bodies that are parsed whole (JSON, and what browsers send as text or forms); uploads
# (multipart, octet-stream) stream and have their own limit.
PARSED_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")
JSON_SUFFIX = "+json"


class BodyLimit:
    """ASGI middleware: a body the server parses whole is refused (413) past its limit.

    `/graphql` takes up to `graphql_bytes` (the answer is a coded GraphQL error); other routes
    up to `other_bytes`. Refused before parsing: at once when Content-Length shows it, else
    as soon as the body passes the limit.
    """

    def __init__(
        self, app: ASGIApp, graphql_bytes: int, other_bytes: int, graphql_path: str = "/graphql"
    ) -> None:
        self.app = app
        self.graphql_bytes = graphql_bytes
        self.other_bytes = other_bytes
        self.graphql_path = graphql_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not (media.startswith(PARSED_TYPES) or media.endswith(JSON_SUFFIX)):
            await self.app(scope, receive, send)
            return
        graphql = scope["path"] == self.graphql_path
        limit = self.graphql_bytes if graphql else self.other_bytes
        declared = headers.get("content-length", "").strip()
        too_long = len(declared) > numbers.MAX_DIGITS  # read no more digits than a bound
        if declared.isascii() and declared.isdigit() and (too_long or int(declared) > limit):
            await _refuse(scope, receive, send, limit, graphql)
            return
        body = bytearray()  # at most `limit` bytes: read here, then handed on
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _refuse(scope, receive, send, limit, graphql)
                return
        request: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay([request], receive), send)


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int, graphql: bool) -> None:
    message = f"The request body exceeds the limit of {limit} bytes"
    if graphql:
        error = {"message": message, "extensions": {"code": "QUERY_TOO_LARGE"}}
        content: dict = {"data": None, "errors": [error]}
    else:
        content = {"detail": message}
    # The rest of the body is not read: close the connection rather than drain it.
    response = JSONResponse(content, 413, headers={"Connection": "close"})
    await response(scope, receive, send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive
