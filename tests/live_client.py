"""A small `graphql-transport-ws` client, and a look at a server's `/metrics`."""

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import ClientConnection, connect

PROTOCOL = "graphql-transport-ws"


@contextlib.contextmanager
def subscriptions(
    base_url: str, origin: str | None = None, token: str | None = None
) -> Iterator["Subscriptions"]:
    """A WebSocket to a server's `/graphql`, acknowledged and ready to subscribe."""
    url = base_url.replace("http://", "ws://", 1) + "/graphql"
    headers = {"Authorization": f"Bearer {token}"} if token else None
    with connect(
        url, subprotocols=[PROTOCOL], open_timeout=10, origin=origin, additional_headers=headers
    ) as ws:
        client = Subscriptions(ws)
        client.send({"type": "connection_init", "payload": {}})
        assert client.receive(10)["type"] == "connection_ack"
        yield client


class Subscriptions:
    """`graphql-transport-ws` messages over one WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next message other than a ping (answered)."""
        while True:
            message = json.loads(self.ws.recv(timeout))
            if message["type"] == "ping":
                self.send({"type": "pong"})
                continue
            return message

    def subscribe(self, id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        self.send(
            {
                "id": id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> "Subscriptions":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def metric_samples(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `/metrics`, parsed by prometheus-client, by name and sorted labels."""
    response = requests.get(base_url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def wait_for_subscriptions(base_url: str, count: int, timeout: float = 20) -> None:
    """Until the server has `count` subscriptions listening to its change feed."""
    deadline = time.monotonic() + timeout
    while True:
        open_now = metric_samples(base_url)[("flrepo_subscriptions_open", ())]
        if open_now >= count:
            return
        assert time.monotonic() < deadline, f"{open_now} subscriptions open, not {count}"
        time.sleep(0.05)
