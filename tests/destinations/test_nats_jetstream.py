"""The NATS JetStream destination against the machine's NATS server: acked publishes with
``Nats-Msg-Id``, so the stream drops a repeated step's messages within its duplicate window.

The refused-credentials test starts a private ``nats-server`` with a user and password on a
free port (no JetStream needed: the connection is refused before any publish).
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from solder.destinations import nats_jetstream
from solder.errors import FatalError, RetryableError
from tests.buses import NATS_URL, JetStream, jetstream, records, step
from tests.flows import wait_until


@pytest.fixture
def stream() -> Iterator[JetStream]:
    with jetstream() as found:
        yield found
    nats_jetstream.dispose_all()


def publish(js: JetStream, key: str = "", **inputs: Any) -> dict[str, Any]:
    subject = inputs.pop("subject", f"{js.prefix}.orders")
    return nats_jetstream.send(step(NATS_URL, key, subject=subject, **inputs))


def test_a_thousand_messages_are_stored_once_however_often_the_step_runs(
    stream: JetStream,
) -> None:
    first = publish(stream, "run-1:block-1", messages=records(1000), batchSize=100)
    again = publish(stream, "run-1:block-1", messages=records(1000), batchSize=100)
    assert first == {
        "subject": f"{stream.prefix}.orders",
        "stream": stream.name,
        "published": 1000,
        "duplicates": 0,
        "lastSequence": 1000,
    }
    assert again["duplicates"] == 1000
    got = stream.messages()
    assert [body for _, body in got] == records(1000)
    assert [mid for mid, _ in got] == [f"run-1:block-1:{i}" for i in range(1000)]


def test_a_failed_batch_is_retried_and_the_stream_drops_what_went_through(
    stream: JetStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = nats_jetstream._publish
    calls = []

    async def publish_until_the_fourth(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 4:
            raise OSError("connection reset")
        return await real(*args)

    monkeypatch.setattr(nats_jetstream, "_publish", publish_until_the_fourth)
    with pytest.raises(RetryableError):
        publish(stream, "run-1:block-2", messages=records(1000), batchSize=100)
    assert stream.count() == 300
    again = publish(stream, "run-1:block-2", messages=records(1000), batchSize=100)
    assert (again["published"], again["duplicates"]) == (1000, 300)
    assert [body for _, body in stream.messages()] == records(1000)


def test_a_subject_no_stream_captures_fails_naming_it(stream: JetStream) -> None:
    with pytest.raises(FatalError) as caught:
        publish(stream, subject="solder.nobody.listens", message=1)
    assert caught.value.field == "subject"
    assert (
        caught.value.message
        == "inputs.subject: no JetStream stream captures 'solder.nobody.listens'"
    )


def test_an_expected_stream_that_does_not_match_fails_naming_it(stream: JetStream) -> None:
    with pytest.raises(FatalError) as caught:
        publish(stream, stream="SOMETHING_ELSE", message=1)
    assert caught.value.field == "stream"
    publish(stream, stream=stream.name, message=1)
    assert stream.count() == 1


def test_refused_credentials_name_the_connection_not_the_password(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not shutil.which(binary):
        pytest.skip("no nats-server binary (apt-get install nats-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", str(port), "--user", "writer", "--pass", "right-pw"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False

        wait_until("the private nats-server", listening, timeout=10)
        url = f"nats://writer:not-the-Pw-8b1f@127.0.0.1:{port}"
        with pytest.raises(FatalError) as caught:
            nats_jetstream.send(step(url, name="events", subject="a.b", message=1))
    finally:
        server.kill()
        server.wait(10)
        nats_jetstream.dispose_all()
    assert caught.value.field == "connection"
    assert caught.value.message.startswith("inputs.connection: 'events' (nats://writer:***@")
    assert "not-the-Pw" not in str(caught.value)
    assert "not-the-Pw" not in caplog.text


def test_blocks_on_many_threads_share_the_connection(stream: JetStream) -> None:
    def send(t: int) -> None:
        publish(stream, f"run-{t}:block-1", messages=records(100), batchSize=30)

    threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert stream.count() == 400
