"""The RabbitMQ destination against the machine's broker.

Its contract (``docs/destinations.md``): messages are persistent JSON with
``message_id = <run id>:<step id>:<index>``; RabbitMQ keeps no memory of ids, so after a crash
a repeated step may publish again and consumers dedupe by message id. Within one process a
retry starts after what the broker confirmed.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterator

import pytest

from solder.destinations import common, rabbitmq
from solder.errors import FatalError, RetryableError
from tests.buses import RABBITMQ_URL, Exchange, rabbit_exchange, records, step


@pytest.fixture
def exchange(monkeypatch: pytest.MonkeyPatch) -> Iterator[Exchange]:
    monkeypatch.setattr(rabbitmq, "_progress", common.Progress())
    with rabbit_exchange() as found:
        yield found
    rabbitmq.dispose_all()


def publish(ex: Exchange, key: str = "", **inputs: object) -> dict[str, object]:
    inputs = {"exchange": ex.name, "routingKey": ex.routing_key, **inputs}
    return rabbitmq.send(step(RABBITMQ_URL, key, **inputs))


def test_a_thousand_messages_arrive_persistent_in_order_with_stable_ids(
    exchange: Exchange,
) -> None:
    out = publish(exchange, "run-1:block-1", messages=records(1000), batchSize=100,
                  headers={"source": "solder"})  # fmt: skip
    assert out == {
        "exchange": exchange.name,
        "routingKey": exchange.routing_key,
        "published": 1000,
        "firstMessageId": "run-1:block-1:0",
    }
    got = exchange.drain()
    assert [body for _, _, body in got] == records(1000)
    assert [mid for mid, _, _ in got] == [f"run-1:block-1:{i}" for i in range(1000)]
    props = got[0][1]
    assert props["delivery_mode"] == 2
    assert props["content_type"] == "application/json"
    assert props["application_headers"] == {"source": "solder"}


def test_one_message(exchange: Exchange) -> None:
    publish(exchange, "run-1:block-2", message={"hello": "world"})
    assert [(m, b) for m, _, b in exchange.drain()] == [("run-1:block-2:0", {"hello": "world"})]


def test_a_repeat_after_a_crash_dedupes_by_message_id(exchange: Exchange) -> None:
    """A new process knows nothing of the first attempt: the broker gets the messages again,
    with the same ids, and a consumer that drops seen ids has each record once."""
    publish(exchange, "run-1:block-3", messages=records(50))
    rabbitmq._progress = common.Progress()  # what a crash and a restart forget
    publish(exchange, "run-1:block-3", messages=records(50))
    got = exchange.drain()
    assert len(got) == 100
    first = {mid: body for mid, _, body in reversed(got)}
    assert sorted(b["id"] for b in first.values()) == list(range(50))


def test_a_retry_in_the_same_process_sends_nothing_twice(exchange: Exchange) -> None:
    publish(exchange, "run-1:block-4", messages=records(30))
    publish(exchange, "run-1:block-4", messages=records(30))
    assert len(exchange.drain()) == 30


def test_a_nacked_batch_is_retried_without_repeating_what_was_confirmed(
    exchange: Exchange,
) -> None:
    """A second queue that holds 350 and refuses more makes the broker nack inside the fourth
    batch of 100: the attempt fails as retryable; the retry starts at the fourth batch."""
    limited = exchange.queue + ".limited"
    exchange.bind(limited, **{"x-max-length": 350, "x-overflow": "reject-publish"})
    with pytest.raises(
        RetryableError, match=r"\(nacked\) 50 of 100 messages, first messages\[350\]"
    ):
        publish(exchange, "run-1:block-5", messages=records(1000), batchSize=100)
    exchange.channel.queue_unbind(limited, exchange.name, exchange.routing_key)
    publish(exchange, "run-1:block-5", messages=records(1000), batchSize=100)
    seen = collections.Counter(mid for mid, _, _ in exchange.drain())
    assert len(seen) == 1000
    assert {mid for mid, n in seen.items() if n > 1} == {
        f"run-1:block-5:{i}" for i in range(300, 400)
    }


def test_an_unroutable_message_fails_naming_the_routing_key(exchange: Exchange) -> None:
    with pytest.raises(FatalError) as caught:
        publish(exchange, routingKey="nobody.listens", message=1)
    assert caught.value.field == "routingKey"
    assert f"exchange {exchange.name!r} routed no queue for routing key 'nobody.listens'" in (
        caught.value.message
    )


def test_a_missing_exchange_fails_naming_it(exchange: Exchange) -> None:
    with pytest.raises(FatalError) as caught:
        publish(exchange, exchange="no-such-exchange", message=1)
    assert caught.value.field == "exchange"
    assert "no exchange 'no-such-exchange'" in caught.value.message
    publish(exchange, message=2)  # the broken channel was replaced
    assert [b for _, _, b in exchange.drain()] == [2]


def test_refused_credentials_name_the_connection_not_the_password(
    exchange: Exchange, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = RABBITMQ_URL.replace("guest:guest@", "guest:not-the-Pw-9c2e@")
    inputs = {"exchange": exchange.name, "routingKey": exchange.routing_key, "message": 1}
    with pytest.raises(FatalError) as caught:
        rabbitmq.send(step(url, name="events", **inputs))
    assert caught.value.field == "connection"
    assert caught.value.message.startswith("inputs.connection: 'events' (amqp://guest:***@")
    assert "refused the credentials" in caught.value.message
    assert "not-the-Pw" not in str(caught.value)
    assert "not-the-Pw" not in caplog.text


def test_blocks_on_many_threads_share_the_connection(exchange: Exchange) -> None:
    def send(t: int) -> None:
        publish(exchange, f"run-{t}:block-1", messages=records(100), batchSize=25)

    threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert exchange.count() == 400
