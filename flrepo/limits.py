"""Request-level guards: bounded GraphQL bodies, and a clean answer when all else fails."""

import logging

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("flrepo")


class GraphQLBodyLimit:
    """ASGI middleware: a JSON body on `/graphql` over `max_bytes` is refused before parsing.

    Multipart bodies (uploads) pass: their `operations` field is bounded where it is read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, path: str = "/graphql") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("content-type", "").startswith("multipart/"):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()  # at most max_bytes: read it here, then hand it on
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        request: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay([request], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = {
            "message": f"The request body exceeds the limit of {self.max_bytes} bytes",
            "extensions": {"code": "QUERY_TOO_LARGE"},
        }
        # The rest of the body is not read: close the connection rather than drain it.
        response = JSONResponse(
            {"data": None, "errors": [error]}, 413, headers={"Connection": "close"}
        )
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


async def internal_error(request: Request, exc: Exception) -> Response:
    """The last resort for an unexpected error: a plain 500 that closes the connection."""
    return JSONResponse(
        {"detail": "Internal Server Error"}, status_code=500, headers={"Connection": "close"}
    )
