"""``POST /run/event`` answers the same whichever way in a request takes.

The plain request (a ``Content-Length``, no ``Origin``, no version header) is answered in front
of the middleware stack (``solder.api.hotpath``); a browser's request, a chunked body or a
version header goes through the stack. Each case here is sent both ways and must get the same
status and message, and the events accepted both ways must both run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.conftest import Server
from tests.flows import install_quickstart, ok, push_quickstart, runs_of, wait_until, workflow_ids

EVENT = "Fulfillment Updated"
GOOD = {"orderId": "1", "status": "FULFILLED"}


def chunked(raw: bytes) -> Iterator[bytes]:
    yield raw[:5]
    yield raw[5:]


def send(server: Server, body: bytes, way: str, key: str | None = None) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {key or server.dev_key}",
               "content-type": "application/json"}  # fmt: skip
    content: bytes | Iterator[bytes] = body
    path = "/2023-12/run/event"
    if way == "browser":
        headers["Origin"] = "https://acme.example"
    elif way == "chunked":
        content = chunked(body)
    elif way == "version-header":
        headers["x-api-version"] = "2025-09"
        path = "/run/event"
    return httpx2.post(server.url + path, content=content, headers=headers, timeout=10)


WAYS = ["plain", "browser", "chunked", "version-header"]


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


@pytest.fixture
def user(server: Server, api: httpx2.Client, receiver_url: str) -> str:
    push_quickstart(api)
    user_id: str = install_quickstart(api, "gregg", receiver_url)["userId"]
    return user_id


def test_every_way_in_gives_the_same_answers(server: Server, api: httpx2.Client, user: str) -> None:
    cases = [
        (body(event=EVENT, userId=user, data=GOOD), None),
        (b"{not json", None),
        (b"", None),
        (body(event=EVENT, userId=user, data={"orderId": "1"}), None),
        (body(event="Nope", userId=user, data={}), None),
        (body(event=EVENT, userId="nobody", data=GOOD), None),
        (body(event=EVENT, userId=user, data=GOOD), "solder_sk_dev_guess"),
    ]
    for raw, key in cases:
        answers = {}
        for way in WAYS:
            resp = send(server, raw, way, key)
            answers[way] = (resp.status_code, resp.json())
        assert len(set(map(repr, answers.values()))) == 1, (raw, answers)
    # the first case was accepted four times: four runs of the workflow the event starts
    (wf,) = [i for name, i in workflow_ids(api).items() if name.startswith("When a fulfillment")]
    wait_until("four runs", lambda: len(runs_of(api, wf, user)) == 4)


def test_a_browser_gets_the_cors_header_and_no_key_can_come_from_one(server: Server) -> None:
    resp = send(server, body(event=EVENT, userId="x", data=GOOD), "browser")
    assert resp.headers["access-control-allow-origin"] == "*"
    preflight = httpx2.options(
        server.url + "/2023-12/run/event",
        headers={"Origin": "https://acme.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization"},
    )  # fmt: skip
    assert preflight.status_code == 400  # Authorization is not an allowed header


@pytest.mark.parametrize("way", ["plain", "chunked"])
def test_a_body_over_the_limit_is_refused_either_way(server: Server, user: str, way: str) -> None:
    limit = server.services.settings.max_body_bytes
    raw = body(event=EVENT, userId=user, data={**GOOD, "pad": "x" * limit})
    resp = send(server, raw, way)
    assert resp.status_code == 413
    assert resp.json()["message"] == f"body: larger than the limit of {limit} bytes"


def test_an_unknown_version_header_is_refused_on_this_route_too(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.dev_key}", "x-api-version": "2019-01"}
    resp = httpx2.post(server.url + "/run/event", json={}, headers=headers)
    assert resp.status_code == 400
    assert "x-api-version" in resp.json()["message"]


def test_the_route_stays_in_the_published_spec(server: Server) -> None:
    spec = ok(httpx2.get(server.url + "/openapi.json"))
    assert "post" in spec["paths"]["/run/event"]
