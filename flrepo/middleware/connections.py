"""Client connections capped below the open-file limit, and none idle for long.

uvicorn's `limit_concurrency` accepts every connection and answers 503 only once a request
arrives, and a connection that never sends its headers is never timed out; so idle
connections could hold every file descriptor. This HTTP/1.1 protocol (uvicorn's h11 one):

- closes a connection that has not sent a request's complete headers within
  `header_timeout_s` of opening, or of its previous answer (slow or silent clients);
- past `cap` connections, closes an idle one (no request in progress) to make
  room, so that one client holding idle connections cannot lock others out (`/healthz`
  keeps answering); only when every connection is busy is the new one answered 503.
"""

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: application/json\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"content-length: 53\r\n\r\n"
    b'{"detail": "too many connections; try again shortly"}'
)


class CappedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a connection cap and a header timeout (class attributes,
    set by `capped_protocol`)."""

    cap = 1000
    header_timeout_s = 10.0
    header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.cap and not self._evict_idle():
            transport.write(REFUSAL)
            transport.close()
            return
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
        super().connection_lost(exc)

    def waiting_for_request(self) -> bool:
        """No request in progress: none received yet, or the last one answered."""
        return self.conn.their_state is h11.IDLE and (
            self.cycle is None or self.cycle.response_complete
        )

    def _evict_idle(self) -> bool:
        for other in self.connections:
            if (
                other is not self
                and isinstance(other, CappedH11Protocol)
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


def capped_protocol(cap: int, header_timeout_s: float) -> type[CappedH11Protocol]:
    """The protocol class for uvicorn's `http` setting, with these limits."""
    return type(
        "CappedH11Protocol",
        (CappedH11Protocol,),
        {"cap": cap, "header_timeout_s": header_timeout_s},
    )
