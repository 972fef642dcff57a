"""Retries: a lost answer or a 5xx is retried with the same Idempotency-Key, so an event runs
once; a call that may not be repeated is sent once.

The transports here sit between the client and the real server: they forward each request
and then drop the answer (what a reset connection does after the server acted), or answer
503 in the server's place.
"""

from __future__ import annotations

import httpx2
import pytest

from solder.client import ConnectionFailed, ServerError, Solder
from tests.client.conftest import EVENT, ON_EVENT
from tests.client.test_running import finished, install
from tests.conftest import Server


class Flaky(httpx2.BaseTransport):
    """Sends to the server; the first ``lose`` answers are lost, the next ``busy`` are 503s."""

    def __init__(self, *, lose: int = 0, busy: int = 0) -> None:
        self.inner = httpx2.HTTPTransport()
        self.lose, self.busy = lose, busy
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.keys.append(request.headers.get("idempotency-key"))
        if self.busy and not self.lose:
            self.busy -= 1
            return httpx2.Response(503, json={"message": "busy: try again"}, request=request)
        response = self.inner.handle_request(request)
        if self.lose:
            self.lose -= 1
            response.read()
            response.close()
            raise httpx2.ReadError("connection reset by peer", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.mark.usefixtures("pushed")
def test_an_event_whose_answer_was_lost_is_retried_and_runs_once(
    solder: Solder, server: Server, receiver_url: str
) -> None:
    user_id, _ = install(solder, "gregg", receiver_url)
    workflow_id = next(w.workflow_id for w in solder.list_workflows() if w.name == ON_EVENT)
    flaky = Flaky(lose=1, busy=1)
    with Solder(server.url, server.dev_key, transport=flaky, backoff=0.01) as client:
        assert client.run_event(EVENT, user_id, {"n": 7}) == "Event successfully triggered"
    (key,) = set(flaky.keys)  # three sends, one generated key
    assert key is not None
    assert len(flaky.keys) == 3
    (run,) = finished(solder, workflow_id, user_id, 1)
    assert run.inputs == {"n": 7}


def test_retries_stop_after_max_retries_with_the_servers_message(server: Server) -> None:
    flaky = Flaky(busy=5)
    client = Solder(server.url, server.dev_key, transport=flaky, max_retries=2, backoff=0)
    with client, pytest.raises(ServerError) as info:
        client.list_users()  # a read may always be repeated
    assert (info.value.status, info.value.message) == (503, "busy: try again")
    assert len(flaky.keys) == 3


def test_a_call_without_a_key_is_not_repeated(solder: Solder, server: Server) -> None:
    flaky = Flaky(lose=1)
    client = Solder(server.url, server.dev_key, transport=flaky, backoff=0)
    with client, pytest.raises(ConnectionFailed, match="POST /users: no answer"):
        client.create_user("once")
    assert flaky.keys == [None]
    assert [u.username for u in solder.list_users().data] == ["once"]
