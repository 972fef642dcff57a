"""Every curl of Alloy's quick-start guide, sent as written, with only the host changed.

The requests below are transcribed from the guide (method, URL with its ``:userId`` style
placeholders, headers spelled as the guide spells them, the ``--data`` text byte for byte).
Only the ids are substituted. Between "Generating Short-Lived JWT" and "Triggering a Custom
Event" the guide installs in the browser with ``Alloy.install()``; here the same install is
made with the headless API and the user token, as the modal does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx2

from solder.sandbox.bigcommerce import StoreState
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import FULFILLMENT, NEW_ORDER, ok, push_quickstart, settled, workflow_ids

KEY = "YOUR_API_KEY"


@dataclass(frozen=True)
class Curl:
    method: str
    url: str
    headers: dict[str, str]
    data: str | None = None
    ids: dict[str, str] = field(default_factory=dict)  # placeholder -> name of the id

    def send(self, server: Server, key: str, known: dict[str, str]) -> Any:
        url = self.url.replace("https://embedded.runalloy.com", server.url)
        data = self.data
        for placeholder, name in self.ids.items():
            url = url.replace(placeholder, known[name])
            data = data.replace(placeholder, known[name]) if data is not None else None
        headers = {k: v.replace(KEY, key) for k, v in self.headers.items()}
        content = data.encode() if data is not None else None
        with httpx2.Client(timeout=10) as client:
            resp = client.request(self.method, url, headers=headers, content=content)
        assert 200 <= resp.status_code < 300, f"{self.method} {url}: {resp.text}"
        return resp.json()


CREATE_USER = Curl(
    "POST",
    "https://embedded.runalloy.com/2023-12/users",
    {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Authorization": "bearer YOUR_API_KEY",
    },
    '{ "username": "gregg" }',
)
LIST_INTEGRATIONS = Curl(
    "GET",
    "https://embedded.runalloy.com/2023-12/integrations?userId=<YOUR_USER_ID>",
    # The guide's backslash after the accept header is missing; the key is meant to be sent.
    {"accept": "application/json", "Authorization": "bearer YOUR_API_KEY"},
    ids={"<YOUR_USER_ID>": "userId"},
)
USER_TOKEN = Curl(
    "GET",
    "https://embedded.runalloy.com/2023-12/user/:userId/token",
    {"Accept": "application/json", "Authorization": "bearer YOUR_API_KEY"},
    ids={":userId": "userId"},
)
RUN_EVENT = Curl(
    "POST",
    "https://embedded.runalloy.com/2023-12/run/event",
    {
        "accept": "application/json",
        "content-type": "application/json",
        "Authorization": "bearer YOUR_API_KEY",
    },
    '{\n"event": "Fulfillment Updated",\n"userId": "00001",\n"data": {\n"orderId": "123",\n'
    '"status": "FULFILLED"\n}\n}',
    ids={"00001": "userId"},
)
ERROR_LOGS = Curl(
    "GET",
    "https://embedded.runalloy.com/2023-12/workflows/:workflowId/errors",
    {"Accept": "application/json", "Authorization": "bearer YOUR_API_KEY"},
    ids={":workflowId": "fulfillment"},
)
_ACTIVATION = {
    "accept": "application/json",
    "content-type": "application/json",
    "Authorization": "bearer YOUR_API_KEY",
}
_ACTIVATION_DATA = '{\n"userId": "00001",\n"workflowId": "632531cf3beb6c98611abd09"\n}'
_ACTIVATION_IDS = {"00001": "userId", "632531cf3beb6c98611abd09": "newOrder"}
DEACTIVATE = Curl(
    "PUT",
    "https://embedded.runalloy.com/2023-12/workflows/deactivate",
    _ACTIVATION,
    _ACTIVATION_DATA,
    _ACTIVATION_IDS,
)
REACTIVATE = Curl(  # "with the same structure as below"
    "PUT",
    "https://embedded.runalloy.com/2023-12/workflows/activate",
    _ACTIVATION,
    _ACTIVATION_DATA,
    _ACTIVATION_IDS,
)
WORKFLOW_LOGS = Curl(
    "GET",
    "https://embedded.runalloy.com/2023-12/workflows/:workflowId/logs?userId=:userId",
    {"accept": "application/json", "Authorization": "bearer YOUR_API_KEY"},
    ids={":workflowId": "fulfillment", ":userId": "userId"},
)
PURGE = Curl(
    "DELETE",
    "https://embedded.runalloy.com/2023-12/users/:userId/logs",
    {"Accept": "application/json", "Authorization": "bearer YOUR_API_KEY"},
    ids={":userId": "userId"},
)


def is_time(value: Any) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None


def install_in_browser(server: Server, token: str, user_id: str, receiver_url: str) -> None:
    """What ``Alloy.install({integrationId})`` does, with only the user token."""
    headers = {"x-alloy-user-token": token}
    credential = {
        "type": "bigcommerce",
        "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN},
    }
    with httpx2.Client(base_url=server.url + "/2023-12", headers=headers, timeout=10) as sdk:
        integration = ok(sdk.get("/integrations"))["data"][0]
        body = {"userId": user_id, "credential": credential}
        cred = ok(sdk.post("/headless/credentials", json=body))
        start = {
            "userId": user_id,
            "integrationId": integration["integrationId"],
            "credentialIds": [cred["credentialId"]],
        }
        started = ok(sdk.post("/headless/startInstallation", json=start))
        answers = [
            {
                "workflowId": b["workflowId"],
                "blockId": b["blockId"],
                "fields": [{"name": "url", "value": f"{receiver_url}/acmeco/orders"}],
            }
            for b in started["data"]
        ]
        done = {"installationId": started["installationId"], "data": answers}
        ok(sdk.post("/headless/completeInstallation", json=done))


def check_integrations(body: Any, installed: bool) -> None:
    (integration,) = body["data"]
    assert set(integration) >= {"integrationId", "app", "installed", "icon", "workflows"}
    assert integration["app"] == "BigCommerce"
    assert integration["installed"] is installed
    for wf in integration["workflows"]:
        assert set(wf) >= {"workflowId", "name", "installed", "version", "active", "blocks"}
        assert (wf["installed"], wf["active"], wf["version"]) == (installed, installed, 1)
        assert wf.get("installedVersion") == (1 if installed else None)
        assert all(set(b) == {"name", "id", "type", "icon"} for b in wf["blocks"])


def test_the_guide_curls_in_order(
    server: Server, receiver_url: str, sandbox_store: tuple[str, StoreState]
) -> None:
    store = sandbox_store[1]
    with server.client() as api:
        push_quickstart(api)  # "Building the Integration" and "Release this Version"
        flows = workflow_ids(api)
    known = {"fulfillment": flows[FULFILLMENT], "newOrder": flows[NEW_ORDER]}
    key = server.dev_key

    created = CREATE_USER.send(server, key, known)
    assert list(created) == ["userId"]
    known["userId"] = created["userId"]

    check_integrations(LIST_INTEGRATIONS.send(server, key, known), installed=False)

    token = USER_TOKEN.send(server, key, known)
    assert list(token) == ["token"]
    assert token["token"].count(".") == 2

    install_in_browser(server, token["token"], known["userId"], receiver_url)
    check_integrations(LIST_INTEGRATIONS.send(server, key, known), installed=True)

    assert RUN_EVENT.send(server, key, known) == {"message": "Event successfully triggered"}
    with server.client() as api:
        (run,) = settled(api, known["fulfillment"], known["userId"], 1)
    assert run["status"] == "failed"  # the sandbox store has no order 123

    (error,) = ERROR_LOGS.send(server, key, known)["data"]
    assert set(error) >= {"workflowId", "block", "errorOccurredAt", "message"}
    assert error["workflowId"] == known["fulfillment"]
    assert error["block"] == "Update an order status"
    assert is_time(error["errorOccurredAt"])
    assert isinstance(error["message"], str)
    assert error["message"]

    assert len(store.hooks) == 1  # the new-order workflow listens to the store
    assert DEACTIVATE.send(server, key, known) == {"activated": False}
    assert store.hooks == {}
    assert REACTIVATE.send(server, key, known) == {"activated": True}
    assert len(store.hooks) == 1

    (execution,) = WORKFLOW_LOGS.send(server, key, known)["data"]
    assert set(execution) >= {"executionId", "startedAt", "stoppedAt", "status", "results"}
    assert execution["inputs"] == {"orderId": "123", "status": "FULFILLED"}
    assert all(is_time(execution[k]) for k in ("startedAt", "stoppedAt"))
    for result in execution["results"]:
        assert set(result) >= {"blockId", "startedAt", "stoppedAt", "data"}
    assert execution["results"][0]["data"] == execution["inputs"]

    assert PURGE.send(server, key, known) == {"message": "Success"}
    assert WORKFLOW_LOGS.send(server, key, known)["data"] == []
    assert ERROR_LOGS.send(server, key, known)["data"] == []
