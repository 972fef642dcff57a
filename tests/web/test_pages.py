"""The modal's pages and the SDK files over HTTP: what a browser is sent before any script runs.

The steps themselves (connecting, dropdowns, installing) run in a browser: ``test_modal.py``.
"""

from __future__ import annotations

import base64
import json
import os
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx2
import jwt

from solder.store.types import utcnow
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import ok
from tests.web.itemflow import Items

HOST = "http://127.0.0.1:1"


def page(server: Server, path: str, **query: Any) -> tuple[httpx2.Response, dict[str, Any]]:
    resp = httpx2.get(f"{server.url}{path}?{urlencode(query, doseq=True)}")
    found = re.search(r'<script id="plan" type="application/json">(.*?)</script>', resp.text)
    assert found, resp.text
    return resp, json.loads(found.group(1))


def test_the_sdk_is_served_as_plain_script_and_module(server: Server) -> None:
    script = httpx2.get(f"{server.url}/sdk/solder.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "root.Alloy = Alloy" in script.text
    assert '"*"' not in script.text
    assert "'*'" not in script.text
    module = httpx2.get(f"{server.url}/sdk/solder.mjs")
    assert module.status_code == 200
    assert "export default Alloy" in module.text
    assert httpx2.get(f"{server.url}/sdk/other.js").status_code == 404


def test_the_install_page_plans_each_app_to_connect(server: Server, items: Items) -> None:
    resp, plan = page(
        server,
        "/forge-install",
        integrationId=items.integration_id,
        token=items.token,
        origin=HOST,
        preFilledValues=json.dumps({"status": "10"}),
        forgeMode="engaged",
    )
    assert resp.status_code == 200
    assert resp.headers["referrer-policy"] == "no-referrer"  # the token is in the URL
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert (plan["userId"], plan["workflowIds"]) == (items.user_id, [items.workflow_id])
    assert plan["parentOrigin"] == HOST
    assert plan["preFilledValues"] == {"status": "10"}
    apps = {a["app"]: a for a in plan["apps"]}
    assert apps["oauth2_sandbox"]["isOauth"] is True
    assert apps["bigcommerce"]["isOauth"] is False
    assert [p["name"] for p in apps["bigcommerce"]["properties"]] == ["storeHash", "accessToken"]
    assert all(a["credentialId"] is None for a in plan["apps"])


def test_an_app_already_connected_comes_with_its_credential(
    server: Server, api: httpx2.Client, items: Items
) -> None:
    credential = {
        "type": "bigcommerce",
        "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN},
    }
    cid = ok(
        api.post("/headless/credentials", json={"userId": items.user_id, "credential": credential})
    )["credentialId"]
    _, plan = page(server, "/forge-install", id=[items.workflow_id], token=items.token)
    apps = {a["app"]: a for a in plan["apps"]}
    assert apps["bigcommerce"]["credentialId"] == cid
    assert STORE_TOKEN not in json.dumps(plan)


def test_fields_say_which_dropdowns_load_from_the_users_account(
    api: httpx2.Client, items: Items
) -> None:
    started = ok(
        api.post(
            "/headless/startInstallation",
            json={"userId": items.user_id, "integrationId": items.integration_id},
        )
    )
    fields = {f["name"]: f for block in started["data"] for f in block["fields"]}
    assert fields["item"]["optionsFrom"] == {"app": "oauth2_sandbox", "name": "items"}
    assert fields["status"]["optionsFrom"] == {"app": "bigcommerce", "name": "order_statuses"}
    assert "optionsFrom" not in fields["note"]


def _expired(server: Server, user_id: str) -> str:
    now = utcnow()
    claims = {"sub": user_id, "env": "development", "iss": "solder", "aud": "solder-user",
              "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)}  # fmt: skip
    return jwt.encode(claims, server.services.token_secret, algorithm="HS256")


def test_an_expired_token_gets_a_message_not_a_blank_frame(server: Server, items: Items) -> None:
    resp, plan = page(
        server, "/forge-install", integrationId=items.integration_id,
        token=_expired(server, items.user_id), origin=HOST, hide="true",
    )  # fmt: skip
    assert resp.status_code == 401
    assert "This link has expired" in resp.text
    assert "open it again" in resp.text
    assert plan["error"] == "This link has expired"
    assert plan["parentOrigin"] == HOST  # the page asks the SDK to show it, even when hidden
    assert "token" not in plan


def test_a_foreign_token_gets_a_message(server: Server, items: Items) -> None:
    forged = jwt.encode(
        {"sub": items.user_id, "env": "development", "aud": "solder-user", "iss": "solder",
         "exp": utcnow() + timedelta(hours=1)},
        base64.b64decode(base64.b64encode(os.urandom(32))), algorithm="HS256",
    )  # fmt: skip
    for token in (forged, "not-a-token", ""):
        resp, plan = page(server, "/forge-install", integrationId=items.integration_id, token=token)
        assert resp.status_code == 401, token
        assert plan["error"] == "This link is not valid"
        assert "did not issue" in resp.text


def test_a_user_deleted_since_the_token_was_minted_gets_a_message(
    server: Server, api: httpx2.Client, items: Items
) -> None:
    ok(api.delete(f"/users/{items.user_id}"))
    resp, plan = page(
        server, "/forge-install", integrationId=items.integration_id, token=items.token
    )
    assert resp.status_code == 404
    assert plan["error"] == "This link is not valid"


def test_bad_parameters_are_named_on_the_page(server: Server, items: Items) -> None:
    cases = [
        ({"integrationId": "nope"}, "integrationId: no integration"),
        ({"integrationId": items.integration_id, "preFilledValues": "{"}, "preFilledValues"),
        ({"integrationId": items.integration_id, "operation": "delete"}, "operation: one of"),
        ({}, "integrationId: required"),
    ]
    for query, message in cases:
        resp, plan = page(server, "/forge-install", token=items.token, **query)
        assert 400 <= resp.status_code < 500, query
        assert message in plan["message"], (query, plan)


def test_the_authenticate_page_plans_one_app(server: Server, items: Items) -> None:
    resp, plan = page(server, "/authenticate-app", app="bigcommerce", token=items.token)
    assert resp.status_code == 200
    assert plan["mode"] == "authenticate"
    assert [a["app"] for a in plan["apps"]] == ["bigcommerce"]
    _, plan = page(server, "/authenticate-app", category="crm", token=items.token)
    assert [a["app"] for a in plan["apps"]] == ["hubspot"]


def test_the_authenticate_page_offers_the_apps_of_a_category(server: Server, items: Items) -> None:
    resp, plan = page(server, "/authenticate-app", category="ecommerce", token=items.token)
    assert resp.status_code == 200
    assert (plan["mode"], plan["category"]) == ("authenticate", "ecommerce")
    assert [a["app"] for a in plan["apps"]] == ["bigcommerce", "shopify"]  # by name
    assert plan["title"] == "Connect an account"
    assert plan["alwaysShowAuthentication"] is True
    resp, plan = page(server, "/authenticate-app", category="games", token=items.token)
    assert resp.status_code == 404
    assert plan["error"] == "This account cannot be connected"
    assert plan["message"] == (
        "category: this server has no app in the category 'games'; the categories are "
        "communication, crm, ecommerce, payments, warehouse"
    )
    resp, plan = page(server, "/authenticate-app", token=items.token)
    assert (resp.status_code, plan["message"]) == (422, "app: required (or category)")


def test_browsers_may_call_with_a_user_token_but_never_an_api_key(server: Server) -> None:
    def preflight(header: str) -> httpx2.Response:
        return httpx2.options(
            f"{server.url}/2023-12/integrations",
            headers={
                "Origin": HOST,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": header,
            },
        )

    allowed = preflight("x-alloy-user-token")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "*"
    assert preflight("authorization").status_code == 400
