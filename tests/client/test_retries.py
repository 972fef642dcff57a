"""Retries: a lost answer or a 5xx is retried with the same Idempotency-Key, so an event runs
once; a call that may not be repeated is sent once.

The transports here sit between the client and the real server: they forward each request
and then drop the answer (what a reset connection does after the server acted), or answer
503 in the server's place.
"""

from __future__ import annotations

import httpx2
import pytest

from solder.client import AsyncSolder, ConnectionFailed, RateLimited, ServerError, Solder
from tests.client.conftest import EVENT, ON_EVENT
from tests.client.test_running import finished, install
from tests.conftest import Server


class Flaky(httpx2.BaseTransport):
    """Sends to the server; the first ``lose`` answers are lost, the next ``busy`` are
    ``status`` answers made up in the server's place."""

    def __init__(self, *, lose: int = 0, busy: int = 0, status: int = 503) -> None:
        self.inner = httpx2.HTTPTransport()
        self.lose, self.busy, self.status = lose, busy, status
        self.keys: list[str | None] = []

    def made_up(self, request: httpx2.Request) -> httpx2.Response | None:
        self.keys.append(request.headers.get("idempotency-key"))
        if self.busy and not self.lose:
            self.busy -= 1
            body = {"message": "busy: try again"}
            return httpx2.Response(self.status, json=body, headers={"Retry-After": "0"})
        return None

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if (answer := self.made_up(request)) is not None:
            return answer
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


class AsyncFlaky(Flaky):
    def __init__(self, **kw: int) -> None:
        super().__init__(**kw)
        self.async_inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if (answer := self.made_up(request)) is not None:
            return answer
        response = await self.async_inner.handle_async_request(request)
        if self.lose:
            self.lose -= 1
            await response.aread()
            await response.aclose()
            raise httpx2.ReadError("connection reset by peer", request=request)
        return response

    async def aclose(self) -> None:
        await self.async_inner.aclose()


def test_rate_limited_calls_wait_and_retry_or_raise_with_retry_after(server: Server) -> None:
    flaky = Flaky(busy=1, status=429)
    with Solder(server.url, server.dev_key, transport=flaky, backoff=30) as client:
        assert client.list_users().data == []  # waited Retry-After (0 s), not the backoff
    assert len(flaky.keys) == 2
    client = Solder(server.url, server.dev_key, transport=Flaky(busy=1, status=429))
    with client, pytest.raises(RateLimited) as info:
        client.create_user("later")
    assert (info.value.status, info.value.retry_after) == (429, 0.0)


@pytest.mark.anyio
@pytest.mark.usefixtures("pushed")
async def test_the_async_client_retries_with_the_same_key(
    solder: Solder, server: Server, receiver_url: str
) -> None:
    user_id, _ = install(solder, "gregg", receiver_url)
    workflow_id = next(w.workflow_id for w in solder.list_workflows() if w.name == ON_EVENT)
    flaky = AsyncFlaky(lose=1, busy=1)
    async with AsyncSolder(server.url, server.dev_key, transport=flaky, backoff=0) as client:
        await client.run_event(EVENT, user_id, {"n": 8}, idempotency_key="parcel-8")
    assert flaky.keys == ["parcel-8"] * 3
    (run,) = finished(solder, workflow_id, user_id, 1)
    assert run.inputs == {"n": 8}
