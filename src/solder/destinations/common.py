"""What the event-bus destinations share: message inputs, batches, client caches, safe URLs.

A bus destination sends one ``message`` or a list of ``messages`` (exactly one of the two) in
batches of ``batchSize``. Message ``i`` of a step has the id ``<idempotency key>:<i>``, the
same on every attempt, which is what lets the bus (NATS), a marker (Redis) or the consumer
(RabbitMQ) recognise a repeat.

Clients are made when a block first sends to a URL and kept for the next blocks
(:class:`ClientCache`, thread-safe: blocks run on worker threads). A URL carries the secret,
so it is shown only through :func:`safe_url`, and errors name ``inputs.connection`` by the
connection's name.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

from solder.destinations.base import DestinationCall
from solder.errors import FatalError, RetryableError

T = TypeVar("T")

DEFAULT_BATCH = 100
MAX_BATCH = 1000
MAX_MESSAGES = 100_000

MESSAGE_PROPERTIES: dict[str, Any] = {
    "message": {"description": "one message (any JSON value); give this or messages"},
    "messages": {
        "type": "array",
        "maxItems": MAX_MESSAGES,
        "description": "a list of messages (any JSON values), sent in order; give this or message",
    },
    "batchSize": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_BATCH,
        "default": DEFAULT_BATCH,
        "description": "messages sent (and confirmed) together",
    },
}


@dataclass(frozen=True)
class Message:
    index: int
    """Its position in the step's list: ``<idempotency key>:<index>`` is its id."""
    value: Any


def messages_of(call: DestinationCall) -> list[Message]:
    """The step's messages: ``message`` (one) or ``messages`` (a list), exactly one given."""
    given = [name for name in ("message", "messages") if name in call.inputs]
    if len(given) != 1:
        raise FatalError(
            "inputs.messages: give either message (one) or messages (a list)"
            + (", not both" if given else ""),
            field="messages",
        )
    if given == ["message"]:
        return [Message(0, call.inputs["message"])]
    values = call.inputs["messages"]
    if not isinstance(values, list):
        raise FatalError("inputs.messages: must be a list", field="messages")
    return [Message(i, v) for i, v in enumerate(values)]


def message_id(call: DestinationCall, message: Message) -> str:
    return f"{call.idempotency_key}:{message.index}"


def batch_size(call: DestinationCall) -> int:
    size = call.inputs.get("batchSize", DEFAULT_BATCH)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH:
        raise FatalError(
            f"inputs.batchSize: must be a whole number from 1 to {MAX_BATCH}", field="batchSize"
        )
    return size


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def text_input(call: DestinationCall, name: str, *, empty: bool = False) -> str:
    value = call.inputs.get(name, "" if empty else None)
    if not isinstance(value, str) or (not value and not empty):
        raise FatalError(f"inputs.{name}: must be a non-empty string", field=name)
    return value


def check_url(call: DestinationCall) -> None:
    """The connection's URL has a host and, if any, a numeric port (else a FatalError)."""
    try:
        parts = urlsplit(call.connection)
        good = bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:
        good = False
    if not good:
        raise FatalError(
            f"inputs.connection: the URL of {call.connection_name!r} has no host or a bad port; "
            "check the server's destination_connections",
            field="connection",
        )


def safe_url(url: str) -> str:
    """``url`` with its password (and a token in the user part) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    user = ""
    if parts.username is not None and parts.password is not None:
        user = f"{parts.username}:***@"
    elif parts.username is not None:
        user = "***@"  # a lone user part may be a token (nats://token@host)
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, "", ""))


def scrub(text: str, url: str) -> str:
    """``text`` without the URL's password or user part, in case a library quoted them."""
    try:
        parts = urlsplit(url)
        secrets = [parts.password, parts.username if parts.password is None else None]
    except ValueError:
        secrets = []
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text.replace(url, safe_url(url))


def unreachable(call: DestinationCall, what: str) -> RetryableError:
    """A connection that failed in a way a later attempt may not: the server down, a timeout."""
    return RetryableError(
        f"inputs.connection: {call.connection_name!r} ({safe_url(call.connection)}): "
        f"{scrub(what, call.connection)}",
        field="connection",
    )


def refused(call: DestinationCall, what: str = "refused the credentials") -> FatalError:
    """The server turned the connection's credentials (or its vhost, or its user) down."""
    return FatalError(
        f"inputs.connection: {call.connection_name!r} ({safe_url(call.connection)}) {what}; "
        "check the URL in the server's destination_connections",
        field="connection",
    )


class ClientCache(Generic[T]):
    """Clients by connection URL, made on first use and closed when evicted or disposed.

    ``make`` runs outside the lock (connecting can take seconds), so two threads may both
    connect to a new URL; the second client is closed and the first one kept. ``close``
    swallows its library's own errors; an ``OSError`` is ignored here. ``discard`` (``close``
    unless given) drops a broken client, without waiting for a dead server.
    """

    def __init__(
        self,
        make: Callable[[str], T],
        close: Callable[[T], None],
        size: int = 16,
        discard: Callable[[T], None] | None = None,
    ):
        self._make = make
        self._close = close
        self._discard = discard or close
        self._size = size
        self._lock = threading.Lock()
        self._clients: OrderedDict[str, T] = OrderedDict()

    def get(self, url: str) -> T:
        with self._lock:
            found = self._clients.get(url)
            if found is not None:
                self._clients.move_to_end(url)
                return found
        made = self._make(url)
        with self._lock:
            found = self._clients.get(url)
            if found is None:
                self._clients[url] = made
                evicted = (
                    self._clients.popitem(last=False)[1]
                    if len(self._clients) > self._size
                    else None
                )
            else:
                self._clients.move_to_end(url)
                evicted = made
        if evicted is not None:
            self._quietly_close(evicted)
        return made if found is None else found

    def drop(self, url: str, client: T) -> None:
        """Forget ``client`` (broken) if it is still the one cached for ``url``, and close it."""
        with self._lock:
            if self._clients.get(url) is client:
                del self._clients[url]
        with contextlib.suppress(OSError):
            self._discard(client)

    def dispose(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            self._quietly_close(client)

    def _quietly_close(self, client: T) -> None:
        with contextlib.suppress(OSError):  # a broken client may fail to close; it is gone
            self._close(client)


class Progress:
    """How many leading messages of a step the bus has accepted, kept in this process.

    Batches go in order and a step stops at its first failed batch, so what went through is
    always a prefix of the list. A retry of the step in the same process (the bus nacked a
    later batch, a timeout) starts after it, so a partial failure does not publish what went
    through twice. A crash forgets this; then the message ids are what lets the bus or the
    consumer drop the repeat.
    """

    def __init__(self, keep: int = 4096, seconds: float = 3600.0) -> None:
        self._keep = keep
        self._seconds = seconds
        self._lock = threading.Lock()
        self._done: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def done(self, key: str) -> int:
        with self._lock:
            hit = self._done.get(key)
        return hit[1] if hit is not None and hit[0] >= time.monotonic() else 0

    def advance(self, key: str, count: int) -> None:
        with self._lock:
            _, before = self._done.pop(key, (0.0, 0))
            self._done[key] = (time.monotonic() + self._seconds, max(before, count))
            while len(self._done) > self._keep:
                self._done.popitem(last=False)
