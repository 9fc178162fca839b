"""The GraphQL endpoint: Strawberry's ASGI view, with file parts streamed instead of spooled."""

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from cross_web import HTTPException, StarletteRequestAdapter
from flrepo.graph.context import Context
from flrepo.graph.cost import Limits
from flrepo.graph.literals import long_number
from flrepo.graph.plain_queries import PlainQueries
from flrepo.graph.schema import make_schema
from flrepo.graph.sockets import CheckedTransportWS, LimitedWebSocket
from flrepo.operations.access import current_caller
from flrepo.operations.tokens import still_valid
from flrepo.transfer import jsonbody, numbers
from flrepo.transfer.multipart import MultipartError, MultipartReader, StreamedUpload
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.status import WS_1008_POLICY_VIOLATION, WS_1013_TRY_AGAIN_LATER
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

RETRY_AFTER_S = "10"  # seconds a caller past its WebSocket share is told to wait
INIT_TIMEOUT = timedelta(seconds=10)  # from the handshake to `connection_init`


class StreamingRequestAdapter(StarletteRequestAdapter):
    """Starlette's request adapter, keeping hold of the request so that its body can stream."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.http_request = request


class GraphQLView(GraphQL):
    """`/graphql`: queries by GET or POST, uploads by the GraphQL multipart request spec,
    subscriptions over WebSocket (`graphql-transport-ws`).

    At most `max_connections` WebSockets at once (more are refused at the handshake, 403),
    at most `per_caller` of them for one caller (more: 429 with Retry-After), each with at
    most `max_subscriptions` operations at once (more get an error message) and open for at
    most `max_lifetime_s`. Pages from other origins than the server's may open one only if
    listed in `allowed_origins`. Messages get the limits of HTTP requests (`sockets`).
    """

    request_adapter_class = StreamingRequestAdapter
    websocket_adapter_class = LimitedWebSocket  # type: ignore[assignment]
    graphql_transport_ws_handler_class = CheckedTransportWS  # type: ignore[assignment]

    def __init__(
        self,
        ide_page: Callable[[Request], Awaitable[Response]],
        max_connections: int = 1000,
        max_subscriptions: int = 20,
        allowed_origins: Sequence[str] = (),
        limits: Limits | None = None,
        per_caller: int | None = None,
        max_lifetime_s: float | None = None,
    ) -> None:
        self.limits = limits or Limits()
        super().__init__(
            make_schema(self.limits),
            multipart_uploads_enabled=True,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            max_subscriptions_per_connection=max_subscriptions,
            allowed_origins=allowed_origins,
            connection_init_wait_timeout=INIT_TIMEOUT,
        )
        self.ide_page = ide_page  # renders GraphiQL for a browser's GET
        self.max_connections = max_connections
        self.per_caller = per_caller or max_connections
        self.max_lifetime_s = max_lifetime_s
        self.connections = 0
        self.by_caller: dict[str, int] = {}  # open WebSockets per caller key (none at 0)
        self.plain: PlainQueries | None = PlainQueries(self.schema, self.limits, self._context)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            if self.plain is not None and self.plain.wanted(scope):
                await self.plain(scope, receive, send, super().__call__)
                return
            await super().__call__(scope, receive, send)
            return
        if self.connections >= self.max_connections:
            await WebSocket(scope, receive, send).close(WS_1013_TRY_AGAIN_LATER)
            return
        key = current_caller().key
        if self.by_caller.get(key, 0) >= self.per_caller:
            await _too_many(WebSocket(scope, receive, send), self.per_caller)
            return
        self.connections += 1
        self.by_caller[key] = self.by_caller.get(key, 0) + 1
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.connections -= 1
            self.by_caller[key] -= 1
            if not self.by_caller[key]:
                del self.by_caller[key]

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A token revoked or expired since the handshake is refused (4403)."""
        caller = current_caller()
        if caller.bad_token or not await still_valid(caller):
            raise ConnectionRejectionError
        return UNSET

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """The operation, unless a number in its text is too long to read."""
        request_data = kwargs.get("request_data")
        if request_data is not None and isinstance(request_data.query, str):
            error = long_number(request_data.query)
            if error is not None:
                return ExecutionResult(data=None, errors=[error])
        return await super().execute_single(*args, **kwargs)

    async def get_context(self, request: Any, response: Any) -> Context:
        return await self._context(request)

    async def _context(self, request: Request) -> Context:
        state = request.app.state
        return Context(
            files=state.files,
            root_path=request.scope.get("root_path", ""),
            feed=state.feed,
            report=state.metrics.graphql_operation,
            refused=lambda status: setattr(request.state, "refused_status", status),
            runs=state.run_policy,
        )

    async def parse_http_body(self, request: StreamingRequestAdapter) -> Any:
        """The operation(s), refused with 413 if a query text is over the size limit."""
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            if item.query is not None and len(item.query.encode()) > self.limits.max_bytes:
                raise HTTPException(
                    413, f"The query exceeds the limit of {self.limits.max_bytes} bytes"
                )
        return data

    def parse_json(self, data: str | bytes) -> Any:
        """Strict JSON: NaN, Infinity and crashing depths are refused with a 400, and so is
        anything but an object or a list of objects (Strawberry would fail on it with a 500)."""
        try:
            parsed = jsonbody.loads(data)
        except jsonbody.JSONBodyError as exc:
            raise HTTPException(400, f"Unable to parse request body as JSON: {exc}") from None
        if not isinstance(parsed, dict) and not (
            isinstance(parsed, list) and all(isinstance(item, dict) for item in parsed)
        ):
            raise HTTPException(400, "The JSON must be an object (or a list of objects)")
        return parsed

    async def render_graphql_ide(self, request: Request) -> Response:
        return await self.ide_page(request)

    async def parse_multipart(self, request: StreamingRequestAdapter) -> dict[str, Any]:
        """Read `operations` and `map`; files stay in the body until a resolver reads them."""
        http_request = request.http_request
        try:
            reader = MultipartReader(
                http_request.stream(),
                request.content_type or "",
                numbers.count(http_request.headers.get("content-length")),
            )
            operations = await _json_field(reader, "operations")
            files_map = await _json_field(reader, "map")
        except MultipartError as exc:
            raise HTTPException(400, str(exc)) from None
        if not isinstance(files_map, dict) or not all(
            isinstance(paths, list) for paths in files_map.values()
        ):
            raise HTTPException(400, "The multipart 'map' must map file fields to lists of paths")
        sole = len(files_map) == 1
        uploads = {field: StreamedUpload(reader, field, sole) for field in files_map}
        try:
            return replace_placeholders_with_files(operations, files_map, uploads)
        except (KeyError, IndexError, TypeError, ValueError):
            paths = ", ".join(repr(p)[:200] for paths in files_map.values() for p in paths)
            raise HTTPException(
                400, f"The multipart 'map' names a path the operations do not hold: {paths}"
            ) from None


async def _too_many(websocket: WebSocket, share: int) -> None:
    """429 at the handshake, where the server can answer it with a status; else a close (403)."""
    message = f"at most {share} WebSockets at once per caller; close one or try again later"
    response = JSONResponse({"detail": message}, 429, headers={"Retry-After": RETRY_AFTER_S})
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # the server lacks the WebSocket denial response extension
        await websocket.close(WS_1008_POLICY_VIOLATION, message)


async def _json_field(reader: MultipartReader, name: str) -> Any:
    part = await reader.next_part()
    if part is None or part.name != name:
        raise MultipartError(f"the multipart body must start with the '{name}' field")
    try:
        return jsonbody.loads(await reader.read_field())
    except jsonbody.JSONBodyError as exc:
        raise MultipartError(f"the '{name}' field is not valid JSON: {exc}") from None
