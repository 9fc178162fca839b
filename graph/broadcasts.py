"""One execution and one encoding of a subscription's events, however many subscribe to it.

Strawberry executes each subscription for its subscriber: with 1,000 sockets subscribed to
the same query, every event was resolved and serialised 1,000 times while the change feed
waited. Here the subscribers of the same query, variables and operation (and the same right
to read) share one execution (`SharedStreams`, the schema as the socket handlers see it);
each result is encoded to JSON once, and each subscriber's share of the work is a put of
that text in its bounded queue, and a send.
"""

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from flrepo.documents.changes import QUEUE_SIZE, SubscriberTooSlow
from flrepo.documents.tasks import cancel_and_wait
from flrepo.operations.access import check
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

Key = tuple[str, str, str | None, bool]
FAIR_SLICE = 32  # subscribers woken before the event loop turns to other work
TOO_SLOW_MESSAGE = "fell too far behind the change stream"  # as the change feed says
Encode = Callable[[object], str]


@dataclass(frozen=True)
class Encoded:
    """A `next` payload already encoded: the socket handler sends it as it is."""

    text: str


@functools.lru_cache(maxsize=256)
def is_subscription(query: str, operation_name: str | None) -> bool:
    """Whether the document's operation is a subscription (queries and mutations sent over
    a socket run on their own)."""
    try:
        operation = get_operation_ast(parse(query), operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation is OperationType.SUBSCRIPTION


def may_read() -> bool:
    try:
        check("read")
    except Exception:
        return False
    return True


def next_payload(result: ExecutionResult) -> dict[str, Any]:
    """What graphql-transport-ws's `next` carries (as Strawberry's Operation.send_next)."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


class Listener:
    """One subscriber's bounded queue of what the broadcast produced."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(QUEUE_SIZE + 2)
        self.dropped = False

    def put(self, kind: str, item: Any) -> None:
        if self.dropped:
            return
        if kind == "next" and self.queue.qsize() >= QUEUE_SIZE:  # fell behind: let it go
            self.dropped = True
            while not self.queue.empty():
                self.queue.get_nowait()
            error = GraphQLError(TOO_SLOW_MESSAGE, extensions={"code": SubscriberTooSlow.code})
            kind, item = "last", ExecutionResult(data=None, errors=[error])
        self.queue.put_nowait((kind, item))

    async def results(self) -> AsyncGenerator[Any, None]:
        """Results as Strawberry's stream yields them, the `next` ones pre-encoded."""
        while True:
            kind, item = await self.queue.get()
            if kind == "done":
                return
            if kind == "raise":
                raise item
            yield item  # Encoded, or what the execution yielded (an error, incremental)
            if kind == "last":
                return


Source = Callable[[], Any]  # awaited: Strawberry's stream of results for the operation


class Broadcast:
    """One running execution and the subscribers it feeds."""

    def __init__(self, key: Key, source: Source, encode: Encode, owner: "Broadcasts") -> None:
        self.key = key
        self.listeners: set[Listener] = set()
        self._owner = owner
        self._encode = encode
        self._task = asyncio.create_task(self._run(source), name="subscription broadcast")

    def _send(self, kind: str, item: Any) -> None:
        for listener in list(self.listeners):
            listener.put(kind, item)

    async def _send_fairly(self, kind: str, item: Any) -> None:
        """Put in every queue, a slice at a time: each put wakes a sender, and the requests
        in progress (the write that caused the event among them) take their turn between
        slices rather than wait for every socket."""
        for n, listener in enumerate(list(self.listeners), 1):
            listener.put(kind, item)
            if n % FAIR_SLICE == 0:
                await asyncio.sleep(0)

    async def _run(self, source: Source) -> None:
        first = True
        try:
            results = await source()
            async with contextlib.aclosing(results):
                async for result in results:
                    if (first and isinstance(result, PreExecutionError)) or not isinstance(
                        result, ExecutionResult
                    ):  # each subscriber's handler answers it as it would its own
                        self._send("last", result)
                        return
                    first = False
                    text = self._encode(next_payload(result))
                    await self._send_fairly(
                        "next", ExecutionResult(data=Encoded(text), errors=None)
                    )
            self._send("done", None)
        except Exception as exc:
            self._send("raise", exc)
        finally:
            self._owner.forget(self)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)


class Broadcasts:
    """The running broadcasts of one schema, by what they execute."""

    def __init__(self, encode: Encode) -> None:
        self._running: dict[Key, Broadcast] = {}
        self._encode = encode

    async def listen(self, key: Key, source: Source) -> AsyncGenerator[Any, None]:
        """The results of the broadcast of `key` (started with `source` if none runs)."""
        broadcast = self._running.get(key)
        if broadcast is None:
            broadcast = Broadcast(key, source, self._encode, self)
            self._running[key] = broadcast
        listener = Listener()
        broadcast.listeners.add(listener)
        try:
            async for result in listener.results():
                yield result
        finally:
            broadcast.listeners.discard(listener)
            if not broadcast.listeners:
                self.forget(broadcast)
                await broadcast.stop()

    def forget(self, broadcast: Broadcast) -> None:
        if self._running.get(broadcast.key) is broadcast:
            del self._running[broadcast.key]

    def __len__(self) -> int:
        return len(self._running)


class SharedStreams:
    """The schema as a socket handler uses it: subscriptions through the broadcasts."""

    def __init__(self, schema: Any, broadcasts: Broadcasts) -> None:
        self._schema = schema
        self._broadcasts = broadcasts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)

    async def stream(self, query: str, **kwargs: Any) -> AsyncIterator[Any]:
        variables = kwargs.get("variable_values")
        operation_name = kwargs.get("operation_name")
        if not is_subscription(query, operation_name):
            return await self._schema.stream(query, **kwargs)
        variables_text = json.dumps(variables or {}, sort_keys=True, default=repr)
        key = (query, variables_text, operation_name, may_read())
        return self._broadcasts.listen(key, functools.partial(self._schema.stream, query, **kwargs))
