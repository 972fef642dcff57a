"""RabbitMQ: publish JSON messages to an exchange with a routing key, with publisher confirms.

Each message is persistent (``delivery_mode=2``), ``application/json``, and published
``mandatory``: a message no queue takes comes back from the broker and fails the step
(``FatalError`` naming ``routingKey``), and a nack fails the attempt (``RetryableError``).
A batch is published as a whole and then its confirms are awaited together.

Idempotency: RabbitMQ itself keeps no memory of message ids, so a repeated step can publish a
message again. Every message carries ``message_id = <run id>:<step id>:<index>``, the same on
every attempt, and **consumers dedupe by it** (the documented contract, ``docs/destinations.md``);
``idempotent`` is therefore ``False``. Within one process a retry after a partial failure
starts after the messages already confirmed (``common.Progress``), so only a crash can cause a
repeat.

Errors (see ``common`` for how the URL is kept out of them)::

    connection refused, reset or timed out, a nack,
    the broker closing the connection                    -> RetryableError
    credentials or vhost refused                         -> FatalError (inputs.connection)
    exchange missing (404), message unroutable           -> FatalError (inputs.exchange /
                                                            inputs.routingKey)

The client is ``amqp`` (py-amqp, already installed with Celery/kombu): its channel exposes
``basic.ack``/``basic.nack``/``basic.return`` events, so confirms can be awaited per batch
(pika's blocking channel waits for each message). One connection per URL, used by one block
at a time (its lock); a broken one is dropped and made again.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import amqp
from amqp import exceptions as amqp_errors

from solder.destinations import common
from solder.destinations.base import Destination, DestinationCall
from solder.errors import FatalError, RetryableError, StepError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
CONFIRM_TIMEOUT = 30.0
IO_TIMEOUT = 30.0

INPUT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "exchange": {
            "type": "string",
            "maxLength": 255,
            "description": "the exchange to publish to; empty for the default exchange",
        },
        "routingKey": {"type": "string", "maxLength": 255},
        "headers": {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]},
            "description": "AMQP headers added to every message",
        },
        **common.MESSAGE_PROPERTIES,
    },
    "required": ["exchange", "routingKey"],
    "additionalProperties": False,
}
OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "exchange": {"type": "string"},
        "routingKey": {"type": "string"},
        "published": {"type": "integer", "description": "messages confirmed by the broker"},
        "firstMessageId": {"type": "string"},
    },
}


@dataclass
class _Publisher:
    """One connection and its confirm-mode channel; one batch at a time."""

    connection: amqp.Connection
    channel: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_tag: int = 1
    acked: set[int] = field(default_factory=set)
    nacked: set[int] = field(default_factory=set)
    returned: list[tuple[str, str]] = field(default_factory=list)  # (message id, reply text)

    def on_ack(self, tag: int, multiple: bool) -> None:
        self._settle(self.acked, tag, multiple)

    def on_nack(self, tag: int, multiple: bool) -> None:
        self._settle(self.nacked, tag, multiple)

    def _settle(self, into: set[int], tag: int, multiple: bool) -> None:
        if multiple:
            settled = self.acked | self.nacked
            into.update(t for t in range(1, tag + 1) if t not in settled)
        else:
            into.add(tag)

    def on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        mid = str(message.properties.get("message_id", ""))
        self.returned.append((mid, str(getattr(exc, "reply_text", "") or exc)))


def _connect(url: str) -> _Publisher:
    parts = urlsplit(url)
    secure = parts.scheme == "amqps"
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    conn = amqp.Connection(
        host=f"{parts.hostname or 'localhost'}:{parts.port or (5671 if secure else 5672)}",
        userid=unquote(parts.username or "guest"),
        password=unquote(parts.password or "guest"),
        virtual_host=vhost,
        ssl=secure,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=IO_TIMEOUT,
        write_timeout=IO_TIMEOUT,
        client_properties={"product": "solder"},
    )
    conn.connect()
    channel = conn.channel()
    channel.confirm_select()
    publisher = _Publisher(conn, channel)
    channel.events["basic_ack"].add(publisher.on_ack)
    channel.events["basic_nack"].add(publisher.on_nack)
    channel.events["basic_return"].add(publisher.on_return)
    return publisher


def _close(publisher: _Publisher) -> None:
    try:
        publisher.connection.close()
    except (OSError, amqp_errors.AMQPError):
        publisher.connection.collect()  # the socket was dead already


def _discard(publisher: _Publisher) -> None:
    publisher.connection.collect()  # no close handshake: the socket may be dead


_publishers: common.ClientCache[_Publisher] = common.ClientCache(_connect, _close, discard=_discard)
_progress = common.Progress()


def send(call: DestinationCall) -> dict[str, Any]:
    common.check_url(call)
    exchange = common.text_input(call, "exchange", empty=True)
    routing_key = common.text_input(call, "routingKey", empty=True)
    headers = call.inputs.get("headers") or {}
    messages = common.messages_of(call)
    size = common.batch_size(call)
    start = _progress.done(call.idempotency_key)
    bodies = [(m, _body(m.value)) for m in messages[start:]]
    for fresh in (False, True):
        publisher = _publisher(call)
        try:
            with publisher.lock:
                for batch in common.batches(bodies, size):
                    _publish(call, publisher, exchange, routing_key, headers, batch)
                    _progress.advance(call.idempotency_key, batch[-1][0].index + 1)
            break
        except (OSError, amqp_errors.ConnectionError, amqp_errors.ChannelError) as exc:
            _publishers.drop(call.connection, publisher)
            error = _translate(call, exc, exchange)
            if fresh or not isinstance(error, RetryableError):
                raise error from None
            # a cached connection the broker had closed: once more on a new one
            bodies = [(m, b) for m, b in bodies if m.index >= _progress.done(call.idempotency_key)]
    log.debug("rabbitmq: %d messages to %r on %s", len(messages), exchange, call.connection_name)
    first = common.message_id(call, messages[0]) if messages else ""
    return {
        "exchange": exchange,
        "routingKey": routing_key,
        "published": len(messages),
        "firstMessageId": first,
    }


def _publisher(call: DestinationCall) -> _Publisher:
    try:
        return _publishers.get(call.connection)
    except amqp_errors.AccessRefused:
        raise common.refused(call) from None
    except amqp_errors.NotAllowed:
        raise common.refused(call, "was refused its vhost (missing, or not allowed)") from None
    except (OSError, amqp_errors.AMQPError) as exc:
        raise common.unreachable(call, _describe(exc)) from None


def _body(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _publish(
    call: DestinationCall,
    publisher: _Publisher,
    exchange: str,
    routing_key: str,
    headers: dict[str, Any],
    batch: Any,
) -> None:
    publisher.acked.clear()
    publisher.nacked.clear()
    publisher.returned.clear()
    tags: dict[int, common.Message] = {}
    for message, body in batch:
        msg = amqp.Message(
            body,
            content_type="application/json",
            delivery_mode=2,
            message_id=common.message_id(call, message),
            app_id="solder",
            application_headers=dict(headers),
        )
        publisher.channel.basic_publish(msg, exchange=exchange, routing_key=routing_key,
                                        mandatory=True)  # fmt: skip
        tags[publisher.next_tag] = message
        publisher.next_tag += 1
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while not set(tags) <= publisher.acked | publisher.nacked:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no publisher confirm in time")
        publisher.connection.drain_events(timeout=left)
    if publisher.returned:
        mid, reason = publisher.returned[0]
        raise FatalError(
            f"inputs.routingKey: exchange {exchange!r} routed no queue for routing key "
            f"{routing_key!r} ({reason}; {len(publisher.returned)} of {len(tags)} messages "
            f"returned, first {mid})",
            field="routingKey",
        )
    nacked = sorted(tags[t].index for t in set(tags) & publisher.nacked)
    if nacked:
        raise RetryableError(
            f"rabbitmq: the broker refused (nacked) {len(nacked)} of {len(tags)} messages, "
            f"first messages[{nacked[0]}]"
        )


def _translate(call: DestinationCall, exc: BaseException, exchange: str) -> StepError:
    if isinstance(exc, amqp_errors.NotFound):
        return FatalError(
            f"inputs.exchange: the broker has no exchange {exchange!r} "
            f"({common.scrub(_describe(exc), call.connection)})",
            field="exchange",
        )
    if isinstance(exc, amqp_errors.AccessRefused):
        return FatalError(
            f"inputs.exchange: {call.connection_name!r} may not publish to {exchange!r}",
            field="exchange",
        )
    if isinstance(exc, amqp_errors.ChannelError):
        return FatalError(
            f"rabbitmq: the broker refused the publish: "
            f"{common.scrub(_describe(exc), call.connection)}"
        )
    return common.unreachable(call, _describe(exc))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, amqp_errors.AMQPError):
        return f"{type(exc).__name__}: {exc.reply_text or exc.reply_code}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"


def dispose_all() -> None:
    _publishers.dispose()


RABBITMQ = Destination(
    key="rabbitmq",
    title="RabbitMQ",
    description="publishes JSON messages to an exchange with a routing key, persistent and "
    "mandatory, with publisher confirms; each carries message_id <run id>:<step id>:<index>, "
    "by which consumers drop a repeat",
    input=INPUT,
    output=OUTPUT,
    schemes=("amqp", "amqps"),
    idempotent=False,
    send=send,
)
