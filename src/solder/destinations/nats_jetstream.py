"""NATS JetStream: publish JSON messages to a subject a stream captures, each acked.

Every message carries the header ``Nats-Msg-Id: <run id>:<step id>:<index>``, the same on every
attempt, so the stream drops a repeat within its duplicate window (``duplicate_window``, two
minutes unless the stream sets another); the publish ack says whether it was one. Set the
window at least as long as the engine's retries of a step may take (``docs/destinations.md``):
a repeat after it would be stored again. Each publish waits for the stream's ack; a batch is
published concurrently and its acks awaited together.

Errors: no server, a timeout, the stream unavailable (503) -> RetryableError; credentials
refused -> FatalError naming ``inputs.connection``; no stream captures the subject -> FatalError
naming ``inputs.subject``; another refusal by the stream -> FatalError.

The client is ``nats-py`` (asyncio). Blocks run on worker threads, so one private event loop
thread runs every NATS connection and a block waits for its coroutine there; a connection per
URL is kept for the next blocks (nats-py's connection is safe to share between coroutines).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient

from solder.destinations import common
from solder.destinations.base import Destination, DestinationCall
from solder.errors import FatalError, StepError

log = logging.getLogger(__name__)
T = TypeVar("T")

CONNECT_TIMEOUT = 5
ACK_TIMEOUT = 10.0
MSG_ID = "Nats-Msg-Id"

INPUT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "subject": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[^\s*>]+$"},
        "stream": {
            "type": "string",
            "minLength": 1,
            "description": "the stream expected to capture the subject (checked by the server)",
        },
        "headers": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "NATS headers added to every message",
        },
        **common.MESSAGE_PROPERTIES,
    },
    "required": ["subject"],
    "additionalProperties": False,
}
OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "subject": {"type": "string"},
        "stream": {"type": "string"},
        "published": {"type": "integer", "description": "messages acked by the stream"},
        "duplicates": {"type": "integer", "description": "of them, repeats the stream dropped"},
        "lastSequence": {"type": "integer"},
    },
}


class _Loop:
    """One daemon thread running an asyncio loop, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._get())
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise nats.errors.TimeoutError from None

    def _get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="solder-nats", daemon=True).start()
                self._loop = loop
            return self._loop


_loop = _Loop()


async def _open(url: str) -> NatsClient:
    """Connect; a refusal of the credentials is raised as itself, not as "no servers"."""
    refused: list[bool] = []

    async def on_error(exc: Exception) -> None:
        # the kind only: nats-py's messages may hold the server URL
        log.debug("nats connection: %s", type(exc).__name__)
        # any refusal counts: the server closes right after its -ERR, so the last error
        # seen is often the reset that followed it
        if _refused(exc):
            refused.append(True)

    try:
        return await nats.connect(
            servers=[url],
            name="solder",
            connect_timeout=CONNECT_TIMEOUT,
            max_reconnect_attempts=3,
            reconnect_time_wait=1,
            error_cb=on_error,
        )
    except nats.errors.NoServersError:
        if refused:
            raise nats.errors.AuthorizationError from None
        raise


def _refused(exc: Exception) -> bool:
    """While connecting, nats-py reports the server's -ERR as a plain error with its text."""
    text = str(exc).lower()
    return isinstance(exc, nats.errors.AuthorizationError) or (
        "authorization violation" in text or "authentication" in text
    )


def _connect(url: str) -> NatsClient:
    return _loop.run(_open(url), timeout=CONNECT_TIMEOUT * 4)


def _close(client: NatsClient) -> None:
    with contextlib.suppress(nats.errors.Error):
        _loop.run(client.close(), timeout=CONNECT_TIMEOUT)


_clients: common.ClientCache[NatsClient] = common.ClientCache(_connect, _close)


def send(call: DestinationCall) -> dict[str, Any]:
    common.check_url(call)
    subject = common.text_input(call, "subject")
    stream = call.inputs.get("stream")
    headers = dict(call.inputs.get("headers") or {})
    messages = common.messages_of(call)
    size = common.batch_size(call)
    published = duplicates = last = 0
    found = stream or ""
    failure: StepError | None = None
    try:
        client = _clients.get(call.connection)
        if client.is_closed:  # gave up reconnecting after the server went away
            _clients.drop(call.connection, client)
            client = _clients.get(call.connection)
        for batch in common.batches(messages, size):
            acks = _loop.run(
                _publish(client, call, subject, stream, headers, batch),
                timeout=ACK_TIMEOUT + 5,
            )
            published += len(acks)
            duplicates += sum(1 for a in acks if a.duplicate)
            found, last = acks[-1].stream, acks[-1].seq
    except (nats.errors.Error, OSError) as exc:
        failure = _translate(call, exc, subject)
    if failure is not None:
        raise failure  # outside the except block: no reference to the client's exception
    log.debug("nats: %d messages (%d repeats)", published, duplicates)
    return {
        "subject": subject,
        "stream": found,
        "published": published,
        "duplicates": duplicates,
        "lastSequence": last,
    }


async def _publish(
    client: NatsClient,
    call: DestinationCall,
    subject: str,
    stream: str | None,
    headers: dict[str, str],
    batch: Any,
) -> list[Any]:
    js = client.jetstream(timeout=ACK_TIMEOUT)
    sends = [
        js.publish(
            subject,
            json.dumps(m.value, separators=(",", ":"), ensure_ascii=False, default=str).encode(),
            stream=stream,
            headers={**headers, MSG_ID: common.message_id(call, m)},
        )
        for m in batch
    ]
    return list(await asyncio.gather(*sends))


def _translate(call: DestinationCall, exc: BaseException, subject: str) -> StepError:
    if isinstance(exc, nats.errors.AuthorizationError | nats.errors.InvalidUserCredentialsError):
        return common.refused(call)
    if isinstance(exc, nats.js.errors.NoStreamResponseError):
        return FatalError(
            f"inputs.subject: no JetStream stream captures {subject!r}", field="subject"
        )
    if isinstance(exc, nats.js.errors.ServiceUnavailableError):
        return common.unreachable(call, "JetStream is unavailable (503)")
    if isinstance(exc, nats.js.errors.APIError):
        field = "stream" if exc.err_code == 10060 else "subject"  # 10060: wrong stream
        return FatalError(
            f"inputs.{field}: the stream refused the message: {exc.description}", field=field
        )
    if isinstance(exc, nats.errors.NoServersError | nats.errors.TimeoutError | OSError):
        return common.unreachable(call, "no server answered" if not isinstance(
            exc, nats.errors.TimeoutError) else "timed out")  # fmt: skip
    if isinstance(exc, nats.errors.ConnectionClosedError | nats.errors.StaleConnectionError):
        return common.unreachable(call, type(exc).__name__)
    return FatalError(f"nats: {type(exc).__name__}: {common.scrub(str(exc), call.connection)}")


def dispose_all() -> None:
    _clients.dispose()


NATS_JETSTREAM = Destination(
    key="nats_jetstream",
    title="NATS JetStream",
    description="publishes JSON messages to a subject a stream captures, each acked; "
    "Nats-Msg-Id <run id>:<step id>:<index> lets the stream drop a repeat within its "
    "duplicate window",
    input=INPUT,
    output=OUTPUT,
    schemes=("nats", "tls"),
    idempotent=True,
    send=send,
)
