"""One log line and the metrics of every request, from an ASGI middleware."""

import json
import logging
import sys
import time
from typing import Any

from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flrepo.metrics import Metrics
from flrepo.middleware.log_repeats import RepeatFilter

access_log = logging.getLogger("flrepo.middleware.access")
refusals = logging.getLogger("flrepo.refused")
refusals.addFilter(RepeatFilter(every_s=10))  # a client retrying in a loop: one line in 10 s
UNMATCHED = "unmatched"
MAX_SERIES = 1024

READS = frozenset({"GET", "HEAD", "OPTIONS"})


def face_of(route: str) -> str:
    """Which face a route template belongs to: graphql, tus or rest."""
    if route == "/graphql":
        return "graphql"
    return "tus" if route.startswith("/uploads") else "rest"


def route_label(scope: Scope, outer_root_path: str) -> str:
    """The matched route's path template (mounts as `/prefix/{path}`), else `unmatched`."""
    route = scope.get("route")
    prefix = scope.get("root_path", "")[len(outer_root_path) :]
    if isinstance(route, Mount):
        return prefix + "/{path}"
    if isinstance(route, Route | WebSocketRoute):
        return prefix + route.path
    return UNMATCHED


class Observer:
    """Counts, times and logs each HTTP request; counts open WebSockets."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._series: dict[tuple[str, str, int], tuple[Any, ...]] = {}

    def _children(self, method: str, route: str, status: int) -> tuple[Any, ...]:
        """The four metric series of a request, looked up once per (method, route, status):
        prometheus_client's `labels()` takes a lock and builds its key on every call."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            metrics = self.metrics
            series = (
                metrics.requests.labels(method, route, str(status)),
                metrics.latency.labels(method, route),
                metrics.received.labels(route),
                metrics.sent.labels(route),
            )
            if len(self._series) < MAX_SERIES:  # methods are the client's: keep it bounded
                self._series[key] = series
        return series

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            self.metrics.websockets.inc()
            try:
                await self.app(scope, receive, send)
            finally:
                self.metrics.websockets.dec()
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        outer_root_path = scope.get("root_path", "")
        status, received, sent = 500, 0, 0
        upload = _header(scope, b"content-type").startswith("multipart/")

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        if upload:
            self.metrics.uploads.inc()
        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            if upload:
                self.metrics.uploads.dec()
            duration = time.perf_counter() - start
            route = route_label(scope, outer_root_path)
            method = scope["method"]
            requests, latency, received_bytes, sent_bytes = self._children(method, route, status)
            requests.inc()
            latency.observe(duration)
            received_bytes.inc(received)
            sent_bytes.inc(sent)
            fields: dict[str, Any] = {
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(duration * 1000, 1),
                "bytes_in": received,
                "bytes_out": sent,
            }
            state = scope.get("state") or {}
            refused = state.get("refused_status")  # set by the GraphQL face on a refused mutation
            if refused is None and method not in READS and status in (401, 403):
                refused = status
            if refused is not None:
                self._refused(scope, route, refused)
            token_name = state.get("token_name")
            if token_name is not None:
                fields["token"] = token_name
            text = " ".join(f"{key}={value}" for key, value in fields.items())
            access_log.info("request %s", text, extra={"event": "request", "fields": fields})

    def _refused(self, scope: Scope, route: str, status: int) -> None:
        """Count and log a refused write: a client that never checks status codes loses its
        data silently, so the server says so (at most one line in 10 s, with a count)."""
        face = face_of(route)
        self.metrics.refused_writes.labels(face, str(status)).inc()
        client = scope.get("client")
        address = client[0] if client else "unknown"
        refusals.warning(
            "refused write (%s): %s %s from %s; anonymous callers' scopes are "
            "FLREPO_ANONYMOUS_SCOPES",
            status,
            scope["method"],
            route,
            address,
        )


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1").lower()
    return ""


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and any structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if fields:  # the fields stand for themselves; the text version would repeat them
            line["message"] = getattr(record, "event", "")
            line.update(fields)
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


LOG_FORMATS = ("text", "json")


class StderrHandler(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a record comes, not as it was at setup: whoever
    replaced it since (a test runner capturing output) may have closed the old one.

    As the standard library's own last-resort handler does (`logging._StderrHandler`, private).
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


def configure_logging(log_format: str) -> None:
    """Logs to stderr, as `text` lines or `json` objects (FLREPO_LOG_FORMAT)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"FLREPO_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
    handler = StderrHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RepeatFilter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
