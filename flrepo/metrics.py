"""Prometheus metrics of one server, in a registry of its own, and the `/metrics` page."""

import asyncio
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import Response

PING_TIMEOUT_S = 2.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    """Everything `/metrics` shows. Route labels are path templates, never raw paths."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        r = {"registry": registry}
        self.requests = Counter(
            "flrepo_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            **r,
        )
        self.latency = Histogram(
            "flrepo_http_request_duration_seconds",
            "Time from request to the end of the response",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            **r,
        )
        self.received = Counter(
            "flrepo_http_received_bytes", "Request body bytes (uploads)", ["route"], **r
        )
        self.sent = Counter(
            "flrepo_http_sent_bytes", "Response body bytes (downloads)", ["route"], **r
        )
        self.uploads = Gauge("flrepo_uploads_in_progress", "Multipart requests being received", **r)
        self.websockets = Gauge("flrepo_websockets_open", "WebSocket connections open", **r)
        self.subscriptions = Gauge("flrepo_subscriptions_open", "GraphQL subscriptions open", **r)
        self.operations = Counter(
            "flrepo_graphql_operations",
            "GraphQL root fields executed, by operation type, field and outcome",
            ["type", "field", "outcome"],
            **r,
        )
        self.refused_writes = Counter(
            "flrepo_refused_writes",
            "Writes refused for want of a token or scope (401, 403), by face and status",
            ["face", "status"],
            **r,
        )
        self.database_up = Gauge(
            "flrepo_database_up", "1 if the database answered ping at scrape time", **r
        )
        self.database_ping = Gauge(
            "flrepo_database_ping_seconds", "How long the ping at scrape time took", **r
        )

    def graphql_operation(self, operation_type: str, field: str, ok: bool) -> None:
        self.operations.labels(operation_type, field, "ok" if ok else "error").inc()

    async def ping(self, client: AsyncMongoClient) -> None:
        start = time.perf_counter()
        try:
            await asyncio.wait_for(client.admin.command("ping"), PING_TIMEOUT_S)
        except (PyMongoError, TimeoutError):
            self.database_up.set(0)
        else:
            self.database_up.set(1)
        self.database_ping.set(time.perf_counter() - start)


async def metrics_page(request: Request) -> Response:
    """`GET /metrics`: the Prometheus text format."""
    state = request.app.state
    metrics: Metrics = state.metrics
    await metrics.ping(state.client)
    metrics.subscriptions.set(len(state.feed.subscribers))
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
