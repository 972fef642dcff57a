"""The Redis Streams destination against the machine's Redis: XADD in batches, trimming, and a
per-step marker that makes any repeat add only what is missing."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis
from pydantic import SecretStr

from solder.config import Settings
from solder.destinations import redis_streams
from solder.errors import FatalError, RetryableError
from tests.blockflow import Flow, outputs
from tests.buses import REDIS_URL, Stream, records, redis_stream, step


@pytest.fixture
def stream() -> Iterator[Stream]:
    with redis_stream() as found:
        yield found
    redis_streams.dispose_all()


def add(stream: Stream, key: str = "", **inputs: Any) -> dict[str, Any]:
    return redis_streams.send(step(REDIS_URL, key, stream=stream.key, **inputs))


def test_a_thousand_messages_are_added_once_however_often_the_step_runs(stream: Stream) -> None:
    first = add(stream, "run-1:block-1", messages=records(1000), batchSize=100)
    again = add(stream, "run-1:block-1", messages=records(1000), batchSize=100)
    assert first == {"stream": stream.key, "messages": 1000, "added": 1000}
    assert again == {"stream": stream.key, "messages": 1000, "added": 0}
    assert [json.loads(e["data"]) for e in stream.entries()] == records(1000)
    ttl = stream.client.ttl(redis_streams.marker_key(stream.key, "run-1:block-1"))
    assert 86_000 < ttl <= 86_400


def test_a_failed_batch_is_retried_without_repeating_the_ones_before(
    stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops before the fourth batch: the attempt is retryable, and the retry
    adds the other 700 messages."""
    client = redis_streams._clients.get(REDIS_URL)
    real = client.eval
    calls = []

    def eval_until_the_fourth(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 4:
            raise redis.ConnectionError("Connection reset by peer")
        return real(*args)

    monkeypatch.setattr(client, "eval", eval_until_the_fourth)
    with pytest.raises(RetryableError, match="Connection reset by peer"):
        add(stream, "run-1:block-2", messages=records(1000), batchSize=100)
    assert stream.count() == 300
    assert add(stream, "run-1:block-2", messages=records(1000), batchSize=100)["added"] == 700
    assert [json.loads(e["data"]) for e in stream.entries()] == records(1000)


def test_steps_are_told_apart_by_their_key(stream: Stream) -> None:
    add(stream, "run-1:block-3#0", message={"n": 0})
    add(stream, "run-1:block-3#1", message={"n": 1})
    add(stream, "run-1:block-3#0", message={"n": 0})
    assert [json.loads(e["data"]) for e in stream.entries()] == [{"n": 0}, {"n": 1}]


def test_max_length_trims_the_stream(stream: Stream) -> None:
    add(stream, messages=records(50), maxLen=10, approximate=False)
    assert stream.count() == 10
    add(stream, messages=records(500), maxLen=100)  # approximate: whole nodes go
    assert 100 <= stream.count() < 300


def test_fields_encoding_writes_one_field_per_key(stream: Stream) -> None:
    add(stream, message={"order": "A-1", "total": 12.5, "tags": ["x"]}, encoding="fields")
    assert stream.entries() == [{"order": "A-1", "total": "12.5", "tags": '["x"]'}]
    with pytest.raises(FatalError) as caught:
        add(stream, messages=[{"a": 1}, "text"], encoding="fields")
    assert caught.value.field == "messages"
    assert caught.value.message.startswith("inputs.messages[1]: encoding fields needs")


def test_a_key_that_is_not_a_stream_fails_naming_the_stream(stream: Stream) -> None:
    stream.client.set(stream.key, "a string")
    with pytest.raises(FatalError) as caught:
        add(stream, message=1)
    assert caught.value.field == "stream"
    assert "holds something other than a stream" in caught.value.message


def test_both_message_and_messages_is_a_bad_input(stream: Stream) -> None:
    with pytest.raises(FatalError) as caught:
        add(stream, message=1, messages=[2])
    assert caught.value.message == (
        "inputs.messages: give either message (one) or messages (a list), not both"
    )


def test_refused_credentials_name_the_connection_not_the_password(
    stream: Stream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = REDIS_URL.replace("redis://", "redis://nobody:not-the-Pw-41d7@")
    with pytest.raises(FatalError) as caught:
        redis_streams.send(step(url, name="events", stream=stream.key, message=1))
    assert caught.value.field == "connection"
    assert caught.value.message.startswith("inputs.connection: 'events' (redis://nobody:***@")
    assert "not-the-Pw" not in str(caught.value)
    assert "not-the-Pw" not in caplog.text


def test_blocks_on_many_threads_share_the_client(stream: Stream) -> None:
    def send(t: int) -> None:
        add(stream, f"run-{t}:block-1", messages=records(100), batchSize=30)

    threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert stream.count() == 400


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.destination_connections = {"stream": SecretStr(REDIS_URL)}
    return settings


def test_messages_collected_by_an_iterate_go_in_batches_from_one_step(
    api: httpx2.Client, tmp_path: Path, stream: Stream
) -> None:
    blocks = [
        {"key": "each", "type": "iterate",
         "inputs": {"items": "{{ trigger.records }}",
                    "collect": {"id": "{{ item.id }}", "name": "{{ blocks.shout }}"}},
         "blocks": [{"key": "shout", "type": "formatter", "operation": "text.upper",
                     "inputs": {"value": "{{ item.name }}"}}]},
        {"key": "publish", "type": "destination", "destination": "redis_streams",
         "inputs": {"connection": "stream", "stream": stream.key, "batchSize": 40,
                    "messages": "{{ blocks.each.items }}"}},
    ]  # fmt: skip
    flow = Flow(api, tmp_path, blocks).install()
    run = flow.run({"records": records(100)})
    assert run["status"] == "succeeded", run["error"]
    assert outputs(run)["publish"] == {"stream": stream.key, "messages": 100, "added": 100}
    expected = [{"id": r["id"], "name": r["name"].upper()} for r in records(100)]
    assert [json.loads(e["data"]) for e in stream.entries()] == expected
