"""The machine's RabbitMQ, Redis and NATS JetStream for destination tests: a place of the
test's own on each (an exchange and queue, a stream key, a JetStream stream), read back.

A server that is not listening is a skip with the command that starts it, and a failure
under CI (``CI`` set). Each place has a random name and is removed when the test ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import amqp
import nats
import pytest
import redis

from solder.destinations.base import DestinationCall

RABBITMQ_URL = os.environ.get("SOLDER_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("SOLDER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("SOLDER_TEST_NATS_URL", "nats://127.0.0.1:4222")
START = {
    "RabbitMQ": "rabbitmq-server -detached",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
    "NATS": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
    "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log",
}


def need(name: str, url: str) -> None:
    """Skip (or, under CI, fail) unless ``url``'s host and port accept a connection."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 3):
            return
    except OSError as exc:
        message = (
            f"{name} is not reachable at {parts.hostname}:{parts.port} "
            f"({type(exc).__name__}); start it with: {START[name]}"
        )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def records(count: int) -> list[dict[str, Any]]:
    return [{"id": n, "name": f"record-{n}"} for n in range(count)]


def step(url: str, key: str = "", name: str = "bus", **inputs: Any) -> DestinationCall:
    """What the engine hands a destination for one attempt of one step."""
    key = key or f"run-{secrets.token_hex(4)}:block-1"
    run_id, step_id = key.split(":", 1)
    return DestinationCall(
        connection=url,
        connection_name=name,
        inputs=inputs,
        idempotency_key=key,
        run_id=run_id,
        step_id=step_id,
        workflow_id="wf",
        user_id="user",
    )


# ---- RabbitMQ ---------------------------------------------------------------------------


@dataclass
class Exchange:
    """A topic exchange with a queue bound to ``routing_key``; both deleted on the way out."""

    name: str
    queue: str
    routing_key: str
    channel: Any
    made: list[str] = field(default_factory=list)

    def drain(self) -> list[tuple[str, dict[str, Any], Any]]:
        """Every message in the queue, taken off it: (message id, properties, JSON body)."""
        got = []
        while (msg := self.channel.basic_get(self.queue, no_ack=True)) is not None:
            got.append((msg.properties.get("message_id"), msg.properties, json.loads(msg.body)))
        return got

    def count(self) -> int:
        return int(self.channel.queue_declare(self.queue, passive=True).message_count)

    def bind(self, queue: str, **arguments: Any) -> None:
        self.channel.queue_declare(queue, arguments=arguments or None, auto_delete=False)
        self.made.append(queue)
        self.channel.queue_bind(queue, self.name, self.routing_key)


@contextmanager
def rabbit_exchange() -> Iterator[Exchange]:
    need("RabbitMQ", RABBITMQ_URL)
    parts = urlsplit(RABBITMQ_URL)
    conn = amqp.Connection(
        f"{parts.hostname}:{parts.port}", userid=parts.username, password=parts.password
    )
    conn.connect()
    channel = conn.channel()
    tag = secrets.token_hex(4)
    found = Exchange(f"solder.test.{tag}", f"solder.test.{tag}.q", f"orders.{tag}", channel)
    channel.exchange_declare(found.name, "topic", durable=False, auto_delete=False)
    found.bind(found.queue)
    try:
        yield found
    finally:
        for queue in found.made:
            channel.queue_delete(queue)
        channel.exchange_delete(found.name)
        conn.close()


# ---- Redis ------------------------------------------------------------------------------


@dataclass
class Stream:
    key: str
    client: redis.Redis

    def entries(self) -> list[dict[str, str]]:
        return [
            {k.decode(): v.decode() for k, v in fields.items()}
            for _, fields in self.client.xrange(self.key)
        ]

    def count(self) -> int:
        return int(self.client.xlen(self.key))


@contextmanager
def redis_stream() -> Iterator[Stream]:
    need("Redis", REDIS_URL)
    client = redis.Redis.from_url(REDIS_URL)
    found = Stream(f"solder.test.{secrets.token_hex(4)}", client)
    try:
        yield found
    finally:
        markers = list(client.scan_iter(match=f"{{{found.key}}}:solder:sent:*"))
        client.delete(found.key, *markers)
        client.close()


# ---- NATS JetStream ---------------------------------------------------------------------


@dataclass
class JetStream:
    """A stream capturing ``<prefix>.>``; read with :meth:`messages` (each call connects)."""

    name: str
    prefix: str
    duplicate_window: float = 120.0
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    async def _messages(self) -> list[tuple[str, Any]]:
        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            info = await js.stream_info(self.name)
            got = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(self.name, seq)
                got.append(((msg.headers or {}).get("Nats-Msg-Id", ""), json.loads(msg.data)))
            return got
        finally:
            await nc.close()

    def messages(self) -> list[tuple[str, Any]]:
        """(Nats-Msg-Id, JSON body) of every message in the stream, in order."""
        result: list[tuple[str, Any]] = self.run(self._messages())
        return result

    async def _count(self) -> int:
        nc = await nats.connect(NATS_URL)
        try:
            return int((await nc.jetstream().stream_info(self.name)).state.messages)
        finally:
            await nc.close()

    def count(self) -> int:
        result: int = self.run(self._count())
        return result


@contextmanager
def jetstream(duplicate_window: float = 120.0) -> Iterator[JetStream]:
    need("NATS", NATS_URL)
    tag = secrets.token_hex(4)
    found = JetStream(f"SOLDER_TEST_{tag}", f"solder.test.{tag}", duplicate_window)

    async def create() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().add_stream(
                name=found.name,
                subjects=[f"{found.prefix}.>"],
                duplicate_window=duplicate_window,
            )
        finally:
            await nc.close()

    async def delete() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(found.name)
        finally:
            await nc.close()

    found.run(create())
    try:
        yield found
    finally:
        found.run(delete())
        found._loop.close()
