"""The modal's pages with a chosen version, an output override, and the origins that may frame
them (``frameAncestors``), over HTTP. The browser side: ``test_sdk_options.py``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx2
import jwt
import pytest

from solder.store.types import utcnow
from tests.conftest import Server
from tests.flows import ok
from tests.streamflow import Notes, push_notes
from tests.web.test_pages import page

UNSET = (
    "frame-ancestors http://localhost:* http://127.0.0.1:* https://localhost:* https://127.0.0.1:*"
)


@pytest.fixture
def notes(api: httpx2.Client, tmp_path: Path) -> Notes:
    return push_notes(api, tmp_path / "notes")


def framing(resp: httpx2.Response) -> str:
    directives = [d.strip() for d in resp.headers["content-security-policy"].split(";")]
    (found,) = [d for d in directives if d.startswith("frame-ancestors")]
    return found


def settings(server: Server, key: str | None = None) -> httpx2.Client:
    return server.client(key, prefix="")


def test_the_version_asked_for_is_in_the_plan(server: Server, notes: Notes) -> None:
    resp, plan = page(server, "/forge-install", id=[notes.send, notes.quiet],
                      versionId=[notes.v1, ""], token=notes.token)  # fmt: skip
    assert resp.status_code == 200
    assert plan["workflowIds"] == [notes.send, notes.quiet]
    assert plan["versionIds"] == [notes.v1, ""]  # "" is the newest
    _, plan = page(server, "/forge-install", integrationId=notes.integration_id, token=notes.token)
    assert plan["versionIds"] is None


def test_a_version_that_does_not_fit_says_so_in_the_frame(server: Server, notes: Notes) -> None:
    resp, plan = page(server, "/forge-install", id=notes.send, versionId=notes.quiet_v1,
                      token=notes.token, hide="true")  # fmt: skip
    assert resp.status_code == 422
    assert plan["error"] == "This cannot be installed"
    assert plan["message"] == (
        f"versionId: {notes.quiet_v1!r} is not a released version of the workflow 'Send notes'"
    )
    _, plan = page(server, "/forge-install", integrationId=notes.integration_id,
                   versionId="v404", token=notes.token)  # fmt: skip
    assert plan["message"] == (
        "versionId: 'v404' is not a released version of a workflow of this integration"
    )


def test_the_output_override_is_checked_and_planned(server: Server, notes: Notes) -> None:
    override = {"url": "https://receiver.example/tenant"}
    _, plan = page(server, "/forge-install", integrationId=notes.integration_id,
                   outputOverride=json.dumps(override), token=notes.token)  # fmt: skip
    assert plan["outputOverride"] == override
    for text, message in [
        ("{", "outputOverride: not valid JSON"),
        ('{"webhook": "x"}', "outputOverride.webhook: unknown key; the keys are url, headers"),
    ]:
        resp, plan = page(server, "/forge-install", integrationId=notes.integration_id,
                          outputOverride=text, token=notes.token)  # fmt: skip
        assert resp.status_code == 422
        assert plan["message"] == message


def test_unset_only_this_machines_pages_may_frame_the_modal(server: Server, notes: Notes) -> None:
    resp, _ = page(server, "/forge-install", integrationId=notes.integration_id, token=notes.token)
    assert framing(resp) == UNSET
    resp, _ = page(server, "/authenticate-app", app="bigcommerce", token=notes.token)
    assert framing(resp) == UNSET
    resp, _ = page(server, "/forge-install", token="forged")
    assert framing(resp) == UNSET


def test_the_listed_origins_and_only_they_may_frame_the_pages(server: Server, notes: Notes) -> None:
    with settings(server) as mgmt:
        listed = ["https://App.Example.com/", "https://*.acme.test:8443", "http://localhost:3000"]
        saved = ok(mgmt.put("/manage/settings", json={"frameAncestors": listed}))["data"]
        assert saved["frameAncestors"] == [
            "https://app.example.com", "https://*.acme.test:8443", "http://localhost:3000",
        ]  # fmt: skip
        assert ok(mgmt.get("/manage/settings"))["data"]["frameAncestors"] == saved["frameAncestors"]
    want = "frame-ancestors https://app.example.com https://*.acme.test:8443 http://localhost:3000"
    resp, _ = page(server, "/forge-install", integrationId=notes.integration_id, token=notes.token)
    assert framing(resp) == want
    resp, _ = page(server, "/authenticate-app", category="crm", token=notes.token)
    assert framing(resp) == want
    # an expired token's page still shows where the ISV frames it
    now = utcnow()
    claims = {"sub": notes.user_id, "env": "development", "iss": "solder", "aud": "solder-user",
              "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)}  # fmt: skip
    expired = jwt.encode(claims, server.services.token_secret, algorithm="HS256")
    resp, plan = page(server, "/forge-install", integrationId=notes.integration_id, token=expired)
    assert (resp.status_code, plan["error"], framing(resp)) == (401, "This link has expired", want)
    # the other environment keeps its own (unset) list
    with settings(server, server.prod_key) as prod:
        user = ok(prod.post("/2023-12/users", json={"username": "pat"}))["userId"]
        token = ok(prod.get(f"/2023-12/users/{user}/token"))["token"]
    resp, _ = page(server, "/authenticate-app", app="bigcommerce", token=token)
    assert framing(resp) == UNSET


def test_an_empty_list_lets_no_page_frame_the_modal(server: Server, notes: Notes) -> None:
    with settings(server) as mgmt:
        ok(mgmt.put("/manage/settings", json={"frameAncestors": []}))
    resp, _ = page(server, "/forge-install", integrationId=notes.integration_id, token=notes.token)
    assert framing(resp) == "frame-ancestors 'none'"


@pytest.mark.parametrize(
    "bad",
    ["*", "'self'", "https://a.example/path", "javascript:alert(1)",
     "https://a.example; script-src *", "ftp://a.example", "https://a.example:99999",
     "https://user@a.example", "", 7],
)  # fmt: skip
def test_an_entry_that_is_not_an_origin_is_refused_by_position(server: Server, bad: object) -> None:
    with settings(server) as mgmt:
        resp = mgmt.put("/manage/settings", json={"frameAncestors": ["https://ok.example", bad]})
        assert resp.status_code == 422, resp.text
        assert resp.json()["message"].startswith("frameAncestors[1]: "), resp.json()
        assert ok(mgmt.get("/manage/settings"))["data"]["frameAncestors"] is None
