"""The GraphQL endpoint: Strawberry's ASGI view, with file parts streamed instead of spooled."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from cross_web import HTTPException, StarletteRequestAdapter
from flrepo.graph.context import Context
from flrepo.graph.cost import Limits
from flrepo.graph.schema import make_schema
from flrepo.transfer import jsonbody
from flrepo.transfer.multipart import MultipartError, MultipartReader, StreamedUpload
from starlette.requests import Request
from starlette.responses import Response
from starlette.status import WS_1013_TRY_AGAIN_LATER
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL


class StreamingRequestAdapter(StarletteRequestAdapter):
    """Starlette's request adapter, keeping hold of the request so that its body can stream."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.http_request = request


class GraphQLView(GraphQL):
    """`/graphql`: queries by GET or POST, uploads by the GraphQL multipart request spec,
    subscriptions over WebSocket (`graphql-transport-ws`).

    At most `max_connections` WebSockets at once (more are refused at the handshake), each
    with at most `max_subscriptions` operations at once (more get an error message). Pages
    from other origins than the server's may open one only if listed in `allowed_origins`.
    """

    request_adapter_class = StreamingRequestAdapter

    def __init__(
        self,
        ide_page: Callable[[Request], Awaitable[Response]],
        max_connections: int = 1000,
        max_subscriptions: int = 20,
        allowed_origins: Sequence[str] = (),
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits()
        super().__init__(
            make_schema(self.limits),
            multipart_uploads_enabled=True,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            max_subscriptions_per_connection=max_subscriptions,
            allowed_origins=allowed_origins,
        )
        self.ide_page = ide_page  # renders GraphiQL for a browser's GET
        self.max_connections = max_connections
        self.connections = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        if self.connections >= self.max_connections:
            await WebSocket(scope, receive, send).close(WS_1013_TRY_AGAIN_LATER)
            return
        self.connections += 1
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.connections -= 1

    async def get_context(self, request: Any, response: Any) -> Context:
        state = request.app.state
        return Context(
            files=state.files,
            root_path=request.scope.get("root_path", ""),
            feed=state.feed,
            report=state.metrics.graphql_operation,
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
        """Strict JSON: NaN, Infinity and crashing depths are refused with a 400."""
        try:
            return jsonbody.loads(data)
        except jsonbody.JSONBodyError as exc:
            raise HTTPException(400, f"Unable to parse request body as JSON: {exc}") from None

    async def render_graphql_ide(self, request: Request) -> Response:
        return await self.ide_page(request)

    async def parse_multipart(self, request: StreamingRequestAdapter) -> dict[str, Any]:
        """Read `operations` and `map`; files stay in the body until a resolver reads them."""
        http_request = request.http_request
        try:
            declared = http_request.headers.get("content-length", "")
            reader = MultipartReader(
                http_request.stream(),
                request.content_type or "",
                int(declared) if declared.isdigit() else None,
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


async def _json_field(reader: MultipartReader, name: str) -> Any:
    part = await reader.next_part()
    if part is None or part.name != name:
        raise MultipartError(f"the multipart body must start with the '{name}' field")
    try:
        return jsonbody.loads(await reader.read_field())
    except jsonbody.JSONBodyError as exc:
        raise MultipartError(f"the '{name}' field is not valid JSON: {exc}") from None
