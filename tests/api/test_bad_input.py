"""Bad requests to every endpoint: a 400/404/422 ``{message}`` naming the field, never a 500.

The table holds, per endpoint, requests that are malformed (400), miss a required field or
have one of the wrong type (422, the message names the field) or name an unknown id (404,
the message names the id). Values ``$user``, ``$wf``, ``$event_wf``, ``$integration`` and
``$installation`` are the ids of a world where the quick start is pushed and installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template
from typing import Any

import httpx2
import pytest

from solder.sandbox.bigcommerce import StoreState
from tests.flows import FULFILLMENT, NEW_ORDER, install_quickstart, ok, push_quickstart

BIG = str(10**20)


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    body: Any = None  # str: sent as is with a JSON content type; anything else: as JSON
    status: int = 422
    names: tuple[str, ...] = ()  # what the message must mention


def P(method: str, path: str, body: Any, status: int, *names: str) -> Probe:
    return Probe(method, path, body, status, names)


def malformed(method: str, path: str) -> list[Probe]:
    return [P(method, path, '{"broken": ', 400, "JSON"), P(method, path, "not json", 400, "JSON")]


def workflow_ref(path: str) -> list[Probe]:
    return [
        *malformed("PUT", path),
        P("PUT", path, {}, 422, "userId"),
        P("PUT", path, {"userId": "$user"}, 422, "workflowId"),
        P("PUT", path, {"userId": 5, "workflowId": "$wf"}, 422, "userId"),
        P("PUT", path, {"userId": "$user", "workflowId": ["$wf"]}, 422, "workflowId"),
        P("PUT", path, {"userId": "nobody", "workflowId": "$wf"}, 404, "nobody"),
        P("PUT", path, {"userId": "$user", "workflowId": "nope"}, 404, "nope"),
    ]


def paged(path: str) -> list[Probe]:
    return [
        P("GET", f"{path}?page=abc", None, 422, "page"),
        P("GET", f"{path}?page=0", None, 422, "page"),
        P("GET", f"{path}?page={BIG}", None, 422, "page"),
        P("GET", f"{path}?limit=many", None, 422, "limit"),
        P("GET", f"{path}?userId=nobody", None, 404, "nobody"),
    ]


EVENT = "Fulfillment Updated"
GOOD_DATA = {"orderId": "1", "status": "FULFILLED"}
CREDENTIAL = {"type": "bigcommerce", "data": {"storeHash": "abc", "accessToken": "t"}}

TABLE: dict[str, list[Probe]] = {
    "users": [
        *malformed("POST", "/users"),
        P("POST", "/users", {}, 422, "username"),
        P("POST", "/users", {"username": 5}, 422, "username"),
        P("POST", "/users", {"username": ""}, 422, "username"),
        P("POST", "/users", {"username": "a\u0000b"}, 422, "username"),
        P("POST", "/users", {"username": "x", "fullName": ["x"]}, 422, "fullName"),
        P("POST", "/users", ["gregg"], 422),
        *malformed("PUT", "/users/$user"),
        P("PUT", "/users/$user", {"username": 7}, 422, "username"),
        P("PUT", "/users/nobody", {"fullName": "x"}, 404, "nobody"),
        P("GET", f"/users?page={BIG}", None, 422, "page"),
        P("GET", "/users?page=1&limit=0", None, 422, "limit"),
        P("GET", "/users?parentWorkflowId=nope", None, 404, "nope"),
    ],
    "batch": [
        *malformed("POST", "/users/batch"),
        P("POST", "/users/batch", {}, 422, "users"),
        P("POST", "/users/batch", {"users": "gregg"}, 422, "users"),
        P("POST", "/users/batch", {"users": []}, 422, "users"),
        P("POST", "/users/batch", {"users": [{"fullName": "x"}]}, 422, "users[0].username"),
        P("POST", "/users/batch", {"users": [{"username": "a"}, {"username": 2}]}, 422, "users[1]"),
    ],
    "activate": workflow_ref("/workflows/activate"),
    "deactivate": workflow_ref("/workflows/deactivate"),
    "upgrade": [
        P("PUT", "/workflows/$wf/upgrade", None, 422, "userId"),
        P("PUT", "/workflows/$wf/upgrade?userId=nobody", None, 404, "nobody"),
        P("PUT", "/workflows/nope/upgrade?userId=$user", None, 404, "nope"),
    ],
    "uninstall": [
        P("DELETE", "/workflows/$wf", None, 422, "userId"),
        P("DELETE", "/workflows/$wf?userId=nobody", None, 404, "nobody"),
        P("DELETE", "/workflows/nope?userId=$user", None, 404, "nope"),
    ],
    "headless-start": [
        *malformed("POST", "/headless/startInstallation"),
        P("POST", "/headless/startInstallation", {}, 422, "userId", "integrationId"),
        P("POST", "/headless/startInstallation", {"userId": "$user"}, 422, "integrationId"),
        P(
            "POST",
            "/headless/startInstallation",
            {"userId": "$user", "integrationId": "$integration", "credentialIds": "c1"},
            422,
            "credentialIds",
        ),
        P(
            "POST",
            "/headless/startInstallation",
            {"userId": "$user", "integrationId": "$integration", "workflowIds": ["nope"]},
            422,
            "workflowIds",
        ),
        P(
            "POST",
            "/headless/startInstallation",
            {"userId": "nobody", "integrationId": "$integration"},
            404,
            "nobody",
        ),
        P("POST", "/headless/startInstallation", {"userId": "$user", "integrationId": "nope"}, 404),
        P(
            "POST",
            "/headless/startInstallation",
            {"userId": "$user", "integrationId": "$integration", "credentialIds": ["nope"]},
            404,
            "nope",
        ),
    ],
    "headless-complete": [
        *malformed("POST", "/headless/completeInstallation"),
        P("POST", "/headless/completeInstallation", {}, 422, "installationId"),
        P(
            "POST",
            "/headless/completeInstallation",
            {"installationId": "$installation", "data": {"url": "x"}},
            422,
            "data",
        ),
        P(
            "POST",
            "/headless/completeInstallation",
            {"installationId": "$installation", "data": [{"workflowId": "$wf", "fields": []}]},
            422,
            "data[0].blockId",
        ),
        P("POST", "/headless/completeInstallation", {"installationId": "nope"}, 404, "nope"),
    ],
    "headless-credentials": [
        *malformed("POST", "/headless/credentials"),
        P("POST", "/headless/credentials", {}, 422, "userId", "credential"),
        P(
            "POST",
            "/headless/credentials",
            {"userId": "$user", "credential": "t"},
            422,
            "credential",
        ),
        P(
            "POST",
            "/headless/credentials",
            {"userId": "$user", "credential": {"type": 5, "data": {}}},
            422,
            "credential.type",
        ),
        P(
            "POST",
            "/headless/credentials",
            {"userId": "$user", "credential": {"type": "bigcommerce"}},
            422,
            "credential.data",
        ),
        P(
            "POST",
            "/headless/credentials",
            {
                "userId": "$user",
                "credential": {**CREDENTIAL, "data": {"storeHash": "a", "accessToken": 5}},
            },
            422,
            "credential.data.accessToken",
        ),
        P(
            "POST",
            "/headless/credentials",
            {"userId": "nobody", "credential": CREDENTIAL},
            404,
            "nobody",
        ),
    ],
    "run-event": [
        *malformed("POST", "/run/event"),
        P("POST", "/run/event", {}, 422, "event", "userId"),
        P("POST", "/run/event", {"event": EVENT, "userId": "$user", "data": "x"}, 422, "data"),
        P("POST", "/run/event", {"event": 5, "userId": "$user", "data": GOOD_DATA}, 422, "event"),
        P(
            "POST",
            "/run/event",
            '{"event": "Fulfillment Updated", "userId": "$user", "data": {"orderId": "1", '
            '"status": "x", "weight": NaN}}',
            422,
            "data.weight",
        ),
        P(
            "POST",
            "/run/event",
            {"event": EVENT, "userId": "$user", "data": {"orderId": "1"}},
            422,
            "data.status",
        ),
        P("POST", "/run/event", {"event": "Nope", "userId": "$user", "data": {}}, 404, "Nope"),
        P(
            "POST",
            "/run/event",
            {"event": EVENT, "userId": "nobody", "data": GOOD_DATA},
            404,
            "nobody",
        ),
    ],
    "run-workflow": [
        *malformed("POST", "/run/workflow"),
        P("POST", "/run/workflow", {}, 422, "userId"),
        P("POST", "/run/workflow", {"userId": "$user"}, 422, "workflowId"),
        P(
            "POST",
            "/run/workflow",
            {"userId": "$user", "workflowId": "$wf", "data": [1]},
            422,
            "data",
        ),
        P("POST", "/run/workflow", {"userId": "$user", "workflowId": "nope"}, 404, "nope"),
        P("POST", "/run/workflow", {"userId": "nobody", "workflowId": "$wf"}, 404, "nobody"),
    ],
    "logs": [
        *paged("/workflows/$wf/logs"),
        P("GET", "/workflows/$wf/logs?limit=31", None, 422, "limit"),
        P("GET", "/workflows/$wf/logs?order=sideways", None, 422, "order"),
        P("GET", "/workflows/nope/logs", None, 404, "nope"),
    ],
    "errors": [
        *paged("/workflows/$wf/errors"),
        P("GET", "/workflows/nope/errors", None, 404, "nope"),
    ],
    "manage-integrations": [
        *malformed("PUT", "/manage/integrations"),
        P("PUT", "/manage/integrations", {}, 422, "integration"),
        P("PUT", "/manage/integrations", {"integration": "x"}, 422, "integration"),
        P(
            "PUT",
            "/manage/integrations",
            {"integration": {"app": "bigcommerce"}},
            422,
            "integration.key",
        ),
        P(
            "PUT",
            "/manage/integrations",
            {"integration": {"key": "k", "app": "bigcommerce"}, "workflows": "x"},
            422,
            "workflows",
        ),
        P("POST", "/manage/workflows/nope/release", None, 404, "nope"),
    ],
    "builder": [
        *malformed("POST", "/manage/integrations/new"),
        P("POST", "/manage/integrations/new", {"key": "k"}, 422, "app"),
        P("POST", "/manage/integrations/new", {"key": 5, "app": "bigcommerce"}, 422, "key"),
        *malformed("POST", "/manage/workflows/check"),
        P("POST", "/manage/workflows/check", {"integrationId": "$integration"}, 422, "workflow"),
        P(
            "POST",
            "/manage/workflows/check",
            {"integrationId": "nope", "workflow": {}},
            404,
            "nope",
        ),
        *malformed("PUT", "/manage/integrations/$integration/workflows/k"),
        P("PUT", "/manage/integrations/$integration/workflows/k", [1], 422, "body"),
        P("PUT", "/manage/integrations/$integration/workflows/k", {"name": 5}, 422, "name"),
        P("PUT", "/manage/integrations/nope/workflows/k", {}, 404, "nope"),
        *malformed("POST", "/manage/workflows/$wf/test"),
        P("POST", "/manage/workflows/$wf/test", {"trigger": {}, "fields": []}, 422, "fields"),
        P("POST", "/manage/workflows/$wf/test", {"trigger": {}, "userId": 5}, 422, "userId"),
        P("POST", "/manage/workflows/nope/test", {"trigger": {}}, 404, "nope"),
        P("GET", "/manage/workflows/nope/test", None, 404, "nope"),
        *malformed("POST", "/manage/workflows/$wf/release"),
        P("POST", "/manage/workflows/$wf/release", {"note": ["x"]}, 422, "note"),
        P("GET", "/manage/workflows/$wf/diff?from=0", None, 422, "from"),
        P("GET", "/manage/workflows/nope/diff", None, 404, "nope"),
        P("GET", "/manage/integrations/$integration/export?format=csv", None, 422, "format"),
        P("GET", "/manage/integrations/nope/export", None, 404, "nope"),
        P("POST", "/manage/import", '{"integration": ', 422, "body"),
        P("POST", "/manage/import", "[1]", 422, "body"),
    ],
    "manage-events": [
        *malformed("PUT", "/manage/events"),
        P("PUT", "/manage/events", {}, 422, "events"),
        P("PUT", "/manage/events", {"events": "x"}, 422, "events"),
        P("PUT", "/manage/events", {"events": [{"name": "x"}]}, 422, "body"),
        P(
            "PUT",
            "/manage/events",
            {"events": [{"name": "x", "body": {}}, {"name": "x", "body": {"a": "String"}}]},
            422,
            "events",
            "'x'",
        ),
    ],
}


@pytest.fixture
def world(api: httpx2.Client, receiver_url: str) -> dict[str, str]:
    push_quickstart(api)
    info = install_quickstart(api, "gregg", receiver_url)
    flows = {w["name"]: w["workflowId"] for w in ok(api.get("/workflows"))["data"]}
    return {
        "user": info["userId"],
        "wf": flows[NEW_ORDER],
        "event_wf": flows[FULFILLMENT],
        "integration": info["integrationId"],
        "installation": info["installationId"],
    }


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return Template(value).safe_substitute(ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


def problem(api: httpx2.Client, probe: Probe, ids: dict[str, str]) -> str | None:
    """What is wrong with the answer to ``probe``, or None."""
    body = fill(probe.body, ids)
    kwargs: dict[str, Any] = {}
    if isinstance(body, str):
        kwargs = {"content": body.encode(), "headers": {"Content-Type": "application/json"}}
    elif body is not None:
        kwargs = {"json": body}
    resp = api.request(probe.method, fill(probe.path, ids), **kwargs)
    if not resp.headers.get("content-type", "").startswith("application/json"):
        return f"not JSON: {resp.status_code} {resp.text[:200]}"
    if resp.status_code != probe.status:
        return f"status {resp.status_code} (want {probe.status}): {resp.text[:200]}"
    payload = resp.json()
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, str):
        return f"no string message: {resp.text[:200]}"
    missing = [name for name in probe.names if fill(name, ids) not in message]
    return f"message does not name {missing}: {message}" if missing else None


@pytest.mark.parametrize("endpoint", list(TABLE))
def test_bad_requests_get_a_clear_answer(
    api: httpx2.Client, world: dict[str, str], endpoint: str
) -> None:
    failures = []
    for probe in TABLE[endpoint]:
        found = problem(api, probe, world)
        if found is not None:
            failures.append(f"{probe.method} {probe.path} {probe.body!r}: {found}")
    assert not failures, "\n".join(failures)
    # nothing above changed what the user has
    listed = ok(api.get("/integrations", params={"userId": world["user"]}))["data"][0]
    assert all(w["installed"] and w["active"] for w in listed["workflows"])
    assert [u["username"] for u in ok(api.get("/users"))["data"]] == ["gregg"]


def test_a_text_the_store_cannot_keep_in_a_path_is_not_a_500(
    api: httpx2.Client, world: dict[str, str]
) -> None:
    for path in ("/users/a%00b", f"/workflows/{world['wf']}/logs?userId=a%00b"):
        resp = api.get(path)
        assert resp.status_code in (404, 422), (path, resp.text)
        assert isinstance(resp.json()["message"], str)


def test_a_webhook_body_that_is_not_json_is_400(
    api: httpx2.Client, world: dict[str, str], sandbox_store: tuple[str, StoreState]
) -> None:
    _, store = sandbox_store
    (hook,) = store.hooks.values()
    for raw in (b"{", b'{"scope": "store/order/created", "data": {"id": NaN}}', b"[1]"):
        resp = httpx2.post(hook["destination"], content=raw, headers=hook["headers"])
        assert resp.status_code == 400, resp.text
        assert "body" in resp.json()["message"]
    assert ok(api.get(f"/workflows/{world['wf']}/logs"))["data"] == []
