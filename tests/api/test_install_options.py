"""Installing a chosen version, and sending an installation's output elsewhere
(``versionIds`` and ``outputOverride`` of ``POST /headless/startInstallation``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from solder.client import Solder, ValidationError
from tests.conftest import Server
from tests.flows import ok, wait_until
from tests.streamflow import EVENT, Notes, push_notes


@pytest.fixture
def notes(api: httpx2.Client, tmp_path: Path) -> Notes:
    return push_notes(api, tmp_path / "notes")


def start(api: httpx2.Client, notes: Notes, **extra: Any) -> httpx2.Response:
    body = {"userId": notes.user_id, "integrationId": notes.integration_id, **extra}
    return api.post("/headless/startInstallation", json=body)


def install(api: httpx2.Client, notes: Notes, url: str, **extra: Any) -> None:
    started = ok(start(api, notes, **extra))
    data = [
        {"workflowId": b["workflowId"], "blockId": b["blockId"],
         "fields": [{"name": "url", "value": url}]}
        for b in started["data"]
    ]  # fmt: skip
    ok(api.post("/headless/completeInstallation",
                json={"installationId": started["installationId"], "data": data}))  # fmt: skip


def installed_version(api: httpx2.Client, notes: Notes) -> tuple[int, int]:
    wf = ok(api.get(f"/workflows/{notes.send}", params={"userId": notes.user_id}))["data"]
    return wf["installedVersion"], wf["version"]


def received(receiver_url: str, count: int) -> list[dict[str, Any]]:
    def got() -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = httpx2.get(f"{receiver_url}/_received").json()["data"]
        return data if len(data) >= count else []

    return wait_until(f"{count} request(s) at the receiver", got)


def fire(api: httpx2.Client, notes: Notes, note: str) -> None:
    ok(api.post("/run/event", json={"event": EVENT, "userId": notes.user_id,
                                    "data": {"note": note}}))  # fmt: skip


def test_the_version_asked_for_is_installed_and_runs(
    api: httpx2.Client, notes: Notes, receiver_url: str
) -> None:
    install(api, notes, f"{receiver_url}/notes", workflowIds=[notes.send], versionIds=[notes.v1])
    assert installed_version(api, notes) == (1, 2)  # so the ISV's page offers the update
    fire(api, notes, "hello")
    (hit,) = received(receiver_url, 1)
    assert hit["json"] == {"version": "one", "note": "hello"}

    # an update to a named version (here by its name, in the workflow's position)
    install(api, notes, f"{receiver_url}/notes", workflowIds=[notes.send], versionIds=["v2"])
    assert installed_version(api, notes) == (2, 2)


def test_with_the_integration_each_version_finds_its_workflow(
    api: httpx2.Client, notes: Notes, receiver_url: str
) -> None:
    install(api, notes, f"{receiver_url}/notes", versionIds=[notes.v1])
    assert installed_version(api, notes) == (1, 2)
    quiet = ok(api.get(f"/workflows/{notes.quiet}", params={"userId": notes.user_id}))["data"]
    assert quiet["installedVersion"] == 1  # not named: the newest


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"workflowIds": "SEND", "versionIds": ["v9"]},
         "versionIds: 'v9' is not a released version of the workflow 'Send notes'"),
        ({"workflowIds": "SEND", "versionIds": ["QUIET_V1"]},
         "versionIds: 'QUIET_V1' is not a released version of the workflow 'Send notes'"),
        ({"workflowIds": "SEND", "versionIds": ["V1", "V2"]},
         "versionIds: 2 version(s) for 1 workflow(s); give one per workflow, in the same order "
         "(an empty one for the newest)"),
        ({"versionIds": ["nope"]},
         "versionIds: 'nope' is not a released version of a workflow of this integration"),
        ({"versionIds": ["V1", "V2"]},
         "versionIds: two versions given for the workflow 'Send notes'"),
        ({"versionIds": ["v" + "9" * 40], "workflowIds": "SEND"},
         "versionIds: 'v" + "9" * 40 + "' is not a released version of the workflow 'Send notes'"),
        ({"versionIds": "v1"}, "versionIds: Input should be a valid list"),
    ],
)  # fmt: skip
def test_a_version_that_does_not_fit_is_refused_by_name(
    api: httpx2.Client, notes: Notes, extra: dict[str, Any], message: str
) -> None:
    names = {"SEND": notes.send, "QUIET_V1": notes.quiet_v1, "V1": notes.v1, "V2": notes.v2}
    if extra.get("workflowIds") == "SEND":
        extra["workflowIds"] = [notes.send]
    if isinstance(extra["versionIds"], list):
        extra["versionIds"] = [names.get(v, v) for v in extra["versionIds"]]
    for ref, real in names.items():
        message = message.replace(ref, real)
    resp = start(api, notes, **extra)
    assert resp.status_code == 422, resp.text
    assert resp.json()["message"] == message


def test_the_output_goes_where_the_override_says_with_its_headers(
    api: httpx2.Client, notes: Notes, receiver_url: str
) -> None:
    override = {"url": f"{receiver_url}/tenant-7", "headers": {"X-Tenant": "seven"}}
    install(api, notes, f"{receiver_url}/notes", outputOverride=override)
    fire(api, notes, "redirected")
    (hit,) = received(receiver_url, 1)
    assert (hit["path"], hit["headers"]["x-tenant"]) == ("/tenant-7", "seven")
    assert hit["json"] == {"version": "two", "note": "redirected"}
    assert hit["verified"] is True  # signed for the URL it was sent to
    assert hit["headers"]["x-alloy-workflowid"] == notes.send


def test_installing_again_keeps_the_override_unless_an_empty_one_is_given(
    api: httpx2.Client, notes: Notes, receiver_url: str
) -> None:
    install(api, notes, f"{receiver_url}/notes", outputOverride={"url": f"{receiver_url}/t"})
    install(api, notes, f"{receiver_url}/edited")  # an edit that does not say
    fire(api, notes, "kept")
    assert [h["path"] for h in received(receiver_url, 1)] == ["/t"]
    install(api, notes, f"{receiver_url}/edited", outputOverride={})
    fire(api, notes, "cleared")
    assert [h["path"] for h in received(receiver_url, 2)] == ["/t", "/edited"]


def test_the_override_given_as_json_text_works_too(
    api: httpx2.Client, notes: Notes, receiver_url: str
) -> None:
    override = '{"url": "%s/as-text"}' % receiver_url  # noqa: UP031 - JSON text
    install(api, notes, f"{receiver_url}/notes", outputOverride=override)
    fire(api, notes, "text")
    (hit,) = received(receiver_url, 1)
    assert hit["path"] == "/as-text"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("{", "outputOverride: not valid JSON"),
        ([1], "outputOverride: must be a JSON object"),
        ({"destination": "x"},
         "outputOverride.destination: unknown key; the keys are url, headers"),
        ({"url": "ftp://example.com/x"},
         "outputOverride.url: must be an http(s) URL with a host, 2048 characters at most"),
        ({"url": "http://169.254.169.254/latest"},
         "outputOverride.url: refused: address 169.254.169.254 (cloud metadata address)"),
        ({"url": "https://example.com", "headers": {"X-Alloy-UserId": "someone"}},
         "outputOverride.headers.X-Alloy-UserId: set by Solder; it cannot be overridden"),
        ({"url": "https://example.com", "headers": {"X-Bad": "a\r\nb"}},
         "outputOverride.headers.X-Bad: must be text on one line, 4096 characters at most"),
        ({"headers": []}, "outputOverride.headers: must be an object of header names to text"),
    ],
)  # fmt: skip
def test_a_bad_override_is_refused_naming_the_key(
    api: httpx2.Client, notes: Notes, override: Any, message: str
) -> None:
    resp = start(api, notes, outputOverride=override)
    assert resp.status_code == 422, resp.text
    assert resp.json()["message"].startswith(message), resp.json()


def test_an_override_with_no_stream_data_to_override_is_refused(
    api: httpx2.Client, notes: Notes
) -> None:
    resp = start(api, notes, workflowIds=[notes.quiet], outputOverride={"url": "https://x.test"})
    assert resp.status_code == 422
    assert resp.json()["message"] == (
        "outputOverride: none of these workflows has a Stream Data block whose output it could send"
    )


def test_the_python_client_installs_a_version_with_an_override(
    server: Server, notes: Notes, receiver_url: str
) -> None:
    with Solder(server.url, server.dev_key) as solder:
        solder.install(
            notes.user_id, notes.integration_id, lambda _block, _field: f"{receiver_url}/n",
            workflow_ids=[notes.send], version_ids=["v1"],
            output_override={"url": f"{receiver_url}/client"},
        )  # fmt: skip
        assert solder.get_workflow(notes.send, user_id=notes.user_id).installed_version == 1
        with pytest.raises(ValidationError) as refused:
            solder.start_installation(notes.user_id, notes.integration_id,
                                      output_override={"to": "x"})  # fmt: skip
    assert refused.value.field == "outputOverride.to"
