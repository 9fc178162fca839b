"""Client connections capped below the open-file limit, and none idle for long.

uvicorn's `limit_concurrency` accepts every connection and answers 503 only once a request
arrives, and a connection that never sends its headers is never timed out; so idle
connections could hold every file descriptor. These HTTP/1.1 protocols (uvicorn's h11 and
httptools ones, the latter the one `flrepo serve` runs):

- closes a connection that has not sent a request's complete headers within
  `header_timeout_s` of opening, or of its previous answer (slow or silent clients);
- past `cap` connections, closes an idle one (no request in progress) to make
  room, so that one client holding idle connections cannot lock others out (`/healthz`
  keeps answering); only when every connection is busy is the new one answered 503.
"""

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: application/json\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"content-length: 53\r\n\r\n"
    b'{"detail": "too many connections; try again shortly"}'
)


class Capped(asyncio.Protocol):
    """A connection cap and a header timeout (class attributes, set by `capped_protocol`),
    mixed into one of uvicorn's HTTP protocols."""

    cap = 1000
    header_timeout_s = 10.0
    header_deadline: asyncio.TimerHandle | None = None
    connections: set[asyncio.Protocol]
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.cap and not self._evict_idle():
            transport.write(REFUSAL)
            transport.close()
            return
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
        super().connection_lost(exc)

    def waiting_for_request(self) -> bool:
        """No request in progress: none received yet, or the last one answered."""
        raise NotImplementedError

    def _evict_idle(self) -> bool:
        for other in self.connections:
            if (
                other is not self
                and isinstance(other, Capped)
                and not other.transport.is_closing()
                and other.waiting_for_request()
            ):
                other.transport.close()
                return True
        return False

    def _arm(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
        self.header_deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _too_slow(self) -> None:
        """Still no complete request headers: close (after an upgrade, the WebSocket is not
        this protocol's any more)."""
        self.header_deadline = None
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:
            return
        if self.waiting_for_request():
            transport.close()


class CappedH11Protocol(Capped, H11Protocol):
    """uvicorn's h11 protocol, capped."""

    def waiting_for_request(self) -> bool:
        return self.conn.their_state is h11.IDLE and (
            self.cycle is None or self.cycle.response_complete
        )


class CappedHttpToolsProtocol(Capped, HttpToolsProtocol):
    """uvicorn's httptools protocol, capped, and with h11's bound on a request's head:
    httptools buffers a header until it ends, whatever its length."""

    max_header_bytes = 64 * 1024
    header_bytes = 0

    def waiting_for_request(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def data_received(self, data: bytes) -> None:
        waiting = self.waiting_for_request()
        if waiting:
            self.header_bytes += len(data)
        super().data_received(data)
        if not waiting or self.transport.is_closing() or not self.waiting_for_request():
            self.header_bytes = 0
        elif self.header_bytes > self.max_header_bytes:
            self.send_400_response("Invalid HTTP request received.")  # as h11 answers it

    def on_response_complete(self) -> None:
        self.header_bytes = 0
        super().on_response_complete()


PROTOCOLS: dict[str, type[Capped]] = {
    "h11": CappedH11Protocol,
    "httptools": CappedHttpToolsProtocol,
}


def capped_protocol(
    cap: int, header_timeout_s: float, http: str = "httptools", max_header_bytes: int = 64 * 1024
) -> type[Capped]:
    """The protocol class for uvicorn's `http` setting (`h11` or `httptools`), with these
    limits."""
    base = PROTOCOLS[http]
    limits = {"cap": cap, "header_timeout_s": header_timeout_s}
    return type(base.__name__, (base,), {**limits, "max_header_bytes": max_header_bytes})
