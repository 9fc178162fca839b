"""`graphql-transport-ws` as Strawberry speaks it, with what HTTP requests get as well: the size
and shape of each message bounded, and the caller's token checked on every operation and
every few seconds, so that the sockets of a revoked or expired token close.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

from flrepo.documents.tasks import cancel_and_wait
from flrepo.graph.broadcasts import Broadcasts, Encoded, SharedStreams
from flrepo.graph.context import Context
from flrepo.graph.literals import long_number
from flrepo.operations.access import current_caller
from flrepo.operations.tokens import still_valid
from flrepo.transfer import jsonbody
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonTextMessageReceived, WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message

RECHECK_S = 3.0  # how often an open socket's token is checked again (with the cache: < 10 s)
FORBIDDEN = 4403  # graphql-transport-ws: the connection is not (or no longer) allowed
BAD_MESSAGE = 4400  # graphql-transport-ws: a message that is not one of the protocol's
TOO_BIG = 1009  # RFC 6455: a message too big to process
MAX_ID = 256  # characters in an operation id
log = logging.getLogger("flrepo.websocket")


class LimitedWebSocket(ASGIWebSocketAdapter):
    """Messages as JSON, refused past the GraphQL byte limit or nested too deep."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[Any, None]:
        limit = self.view.limits.max_bytes
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
                    await self.close(TOO_BIG, f"the message exceeds {limit} bytes")
                    return
                try:
                    yield jsonbody.loads(text)
                except jsonbody.JSONBodyError as exc:
                    if not ignore_parsing_errors:
                        await self.close(BAD_MESSAGE, f"the message is not valid JSON: {exc}"[:120])
                        return
        except KeyError as exc:  # a binary frame
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            return

    async def send_json(self, message: Any) -> None:
        """Sends nothing once the socket is closing (a subscription may still be yielding)."""
        if self.ws.application_state != WebSocketState.CONNECTED:
            raise WebSocketDisconnected
        try:
            await super().send_json(message)
        except RuntimeError:  # closed between the check and the send
            raise WebSocketDisconnected from None

    async def send_text(self, text: str) -> None:
        """A message already encoded as JSON, as `send_json` sends one."""
        if self.ws.application_state != WebSocketState.CONNECTED:
            raise WebSocketDisconnected
        try:
            await self.ws.send_text(text)
        except (RuntimeError, WebSocketDisconnect):
            raise WebSocketDisconnected from None

    async def close(self, code: int, reason: str) -> None:
        if self.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.ws.close(code=code, reason=reason)


class CheckedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """Each message checked for its shape; each operation, and every RECHECK_S, the caller's
    token; the socket closed (4403) once the token is revoked or expired, and (1000) once it
    has been open `context.limits`' lifetime."""

    async def handle(self) -> None:
        broadcasts = self.view.__dict__.get("broadcasts")  # one registry per view (process)
        if broadcasts is None:
            broadcasts = self.view.broadcasts = Broadcasts(_encoder(self.view))  # type: ignore[attr-defined]
        self.schema = SharedStreams(self.schema, broadcasts)
        watch = asyncio.create_task(self._watch(), name="websocket token check")
        try:
            await super().handle()
        finally:
            await cancel_and_wait(watch)

    async def _watch(self) -> None:
        lifetime = getattr(self.view, "max_lifetime_s", None)
        deadline = time.monotonic() + lifetime if lifetime else None
        while True:
            wait = RECHECK_S
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(wait)
            if not await _token_holds():
                await self._end(FORBIDDEN, "Forbidden: the token was revoked or has expired")
                return
            if deadline is not None and time.monotonic() >= deadline:
                await self._end(1000, "the connection reached its lifetime; connect again")
                return

    async def _end(self, code: int, reason: str) -> None:
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        await self.websocket.close(code=code, reason=reason)

    async def handle_message(self, message: Message) -> None:
        problem = _malformed(message)
        if problem:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged and not await _token_holds():
            await self._end(FORBIDDEN, "Forbidden: the token was revoked or has expired")
            return
        error = long_number(message["payload"]["query"])
        if (
            error is not None
            and self.connection_acknowledged
            and message["id"] not in self.operations
        ):
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)

    async def send_message(self, message: Message) -> None:
        """A shared subscription's `next` is sent as encoded once for all its subscribers."""
        payload = message.get("payload")
        if isinstance(payload, dict) and isinstance(payload.get("data"), Encoded):
            id_text = _encoder(self.view)(message["id"])  # type: ignore[typeddict-item]
            text = f'{{"id":{id_text},"type":"next","payload":{payload["data"].text}}}'
            await self.websocket.send_text(text)  # type: ignore[attr-defined]
            return
        await super().send_message(message)

    async def handle_task_exception(self, error: Exception) -> None:
        if isinstance(error, WebSocketDisconnected):  # the socket went while a result was sent
            return
        await super().handle_task_exception(error)


def _encoder(view: Any) -> Any:
    """The view's JSON encoder, as text (it is what `send_json` sends)."""

    def encode(value: object) -> str:
        encoded = view.encode_json(value)
        return encoded.decode() if isinstance(encoded, bytes) else encoded

    return encode


async def _token_holds() -> bool:
    """Whether the caller's token still holds; if it cannot be checked, it does not."""
    try:
        return await still_valid(current_caller())
    except Exception as exc:  # the database is away: fail closed, the client may reconnect
        log.warning("could not check a WebSocket's token (%s); closing it", exc)
        return False


def _malformed(message: Any) -> str | None:
    """Why a parsed message is not one the protocol has, or None if it is."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "a message must be a JSON object with a string 'type'"
    if message["type"] == "connection_init":
        payload = message.get("payload")
        return None if payload is None or isinstance(payload, dict) else "invalid payload"
    if message["type"] not in ("subscribe", "complete"):
        return None
    id = message.get("id")
    if not isinstance(id, str) or not 0 < len(id) <= MAX_ID:
        return f"'id' must be a string of 1 to {MAX_ID} characters"
    if message["type"] == "complete":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return "a subscribe payload must be an object with a string 'query'"
    for key in ("variables", "extensions"):
        if not isinstance(payload.get(key), dict | None):
            return f"'{key}' must be an object"
    if not isinstance(payload.get("operationName"), str | None):
        return "'operationName' must be a string"
    return None
