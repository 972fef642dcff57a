"""The SDK's other entry points in a browser: a hidden install that asks nothing, edit and
update of an installed copy, connecting one app with ``authenticate``, and the user-token
calls (``getIntegrations``, ``getWorkflows``, ``deactivate``, ``reactivate``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import expect

from tests.api.test_oauth import Provider, connect
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import ok
from tests.web.browser import install, results, shot
from tests.web.itemflow import Items, release, with_new_field

pytestmark = pytest.mark.browser
BIGCOMMERCE = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN}}
CHOSEN = {"item": "1", "status": "2"}  # anvil, Shipped


@pytest.fixture
def connected(api: httpx2.Client, items: Items, provider: Provider) -> Items:
    """The user has both accounts connected already."""
    ok(api.post("/headless/credentials", json={"userId": items.user_id, "credential": BIGCOMMERCE}))
    connect(api, items.user_id)
    return items


def install_quietly(page: Any, items: Items) -> None:
    """Install with everything connected and answered: no modal shows."""
    install(page, items.token, integrationId=items.integration_id, hide=True,
            preFilledValues=CHOSEN)  # fmt: skip
    page.wait_for_function("window.results.length === 1")


def answers(api: httpx2.Client, items: Items) -> dict[str, Any]:
    """The values the user's installed copy holds, by field name."""
    (row,) = ok(api.get("/installations", params={"userId": items.user_id}))["data"][-1:]
    return {f["name"]: f["value"] for block in row["formData"] for f in block["fields"]}


def test_hide_installs_without_showing_anything_when_nothing_needs_asking(
    api: httpx2.Client, connected: Items, page: Any
) -> None:
    install_quietly(page, connected)
    assert results(page) == [{"success": True, "workflowIds": [connected.workflow_id]}]
    assert page.evaluate("window.shown") is False
    assert answers(api, connected) == {**CHOSEN, "note": "from the modal"}


def test_hide_shows_the_modal_when_a_field_has_no_answer(connected: Items, page: Any) -> None:
    modal = install(page, connected.token, integrationId=connected.integration_id, hide=True,
                    preFilledValues={"item": "1"})  # fmt: skip
    modal.get_by_role("option", name="anvil").wait_for(state="attached")
    assert page.evaluate("window.shown") is True
    assert modal.get_by_label("Which item").input_value() == "1"  # prefilled, once loaded


def test_edit_starts_from_the_users_answers_and_changes_them(
    api: httpx2.Client, connected: Items, page: Any
) -> None:
    install_quietly(page, connected)
    modal = install(page, connected.token, "edit", integrationId=connected.integration_id)
    modal.get_by_role("heading", name="Edit Items").wait_for()
    item = modal.get_by_label("Which item")
    modal.get_by_role("option", name="chisel").wait_for(state="attached")
    modal.get_by_role("option", name="Shipped", exact=True).wait_for(state="attached")
    assert item.input_value() == "1"
    item.select_option(label="chisel")
    modal.get_by_label("A note for your team (optional)").fill("edited")
    shot(page.locator("iframe.solder-frame"), "modal-6-edit")
    modal.get_by_role("button", name="Save").click()
    page.wait_for_function("window.results.length === 2")
    assert results(page)[1]["success"] is True
    assert answers(api, connected) == {"item": "3", "status": "2", "note": "edited"}


def test_update_moves_to_the_newest_version_carrying_answers_over(
    api: httpx2.Client, connected: Items, page: Any, tmp_path: Path
) -> None:
    install_quietly(page, connected)
    new = {"name": "priority", "displayName": "Priority", "type": "number", "required": True}
    release(api, tmp_path / "v2", with_new_field(new))
    wf = ok(api.get(f"/workflows/{connected.workflow_id}", params={"userId": connected.user_id}))
    assert (wf["data"]["version"], wf["data"]["installedVersion"]) == (2, 1)

    modal = install(page, connected.token, "update", integrationId=connected.integration_id)
    priority = modal.get_by_label("Priority")
    modal.get_by_role("button", name="Save").click()
    assert modal.locator(f"#{priority.get_attribute('id')}-error").text_content() == (
        "This field is required."
    )
    # focus goes to it (retried: on a loaded machine the frame takes focus a moment later)
    expect(priority).to_be_focused()
    assert modal.get_by_label("Which item").input_value() == "1"  # carried over
    priority.fill("3")
    modal.get_by_role("button", name="Save").click()
    page.wait_for_function("window.results.length === 2")
    wf = ok(api.get(f"/workflows/{connected.workflow_id}", params={"userId": connected.user_id}))
    assert (wf["data"]["installedVersion"], wf["data"]["active"]) == (2, True)
    assert answers(api, connected) == {**CHOSEN, "note": "from the modal", "priority": 3}


def test_authenticate_connects_one_app_and_returns_its_credential(
    api: httpx2.Client, items: Items, page: Any
) -> None:
    modal = install(page, items.token, "authenticate", app="bigcommerce")
    modal.get_by_label("Store hash").fill(STORE_HASH)
    modal.get_by_label("Access token").fill(STORE_TOKEN)
    modal.get_by_label("Access token").press("Enter")  # the keyboard submits the form
    modal.get_by_role("button", name="Continue").click()
    page.wait_for_function("window.results.length === 1")
    (listed,) = ok(api.get(f"/users/{items.user_id}/credentials"))["data"]
    cid = listed["credentialId"]
    assert results(page) == [{"success": True, "credentialId": cid, "connectionId": cid}]


def test_user_token_calls_list_and_switch_the_users_workflows(
    server: Server, connected: Items, page: Any
) -> None:
    install_quietly(page, connected)
    got = page.evaluate(
        """async (wf) => {
             const out = {};
             out.integrations = await Alloy.getIntegrations();
             out.off = await Alloy.deactivate({workflowId: wf});
             out.workflows = await Alloy.getWorkflows();
             out.on = await Alloy.reactivate({workflowId: wf});
             try { Alloy().install({integrationId: "x"}); } catch (e) { out.fresh = e.message; }
             try { await Alloy.deactivate({}); } catch (e) { out.missing = e.message; }
             return out;
           }""",
        connected.workflow_id,
    )
    (integration,) = got["integrations"]
    assert (integration["integrationId"], integration["installed"]) == (
        connected.integration_id,
        True,
    )
    assert got["off"] == {"activated": False}
    assert [(w["workflowId"], w["active"]) for w in got["workflows"]] == [
        (connected.workflow_id, False)
    ]
    assert got["on"] == {"activated": True}
    assert got["fresh"] == "no token set"  # a new client has no token yet
    assert got["missing"] == "workflowId: required"


def test_the_es_module_points_at_the_server_it_came_from(server: Server, page: Any) -> None:
    got = page.evaluate(
        """async (url) => {
             const m = await import(url + "/sdk/solder.mjs");
             const other = m.default({baseUrl: "http://127.0.0.1:9/x"});
             return [m.default.getBaseUrl(), typeof m.createClient, other.getBaseUrl()];
           }""",
        server.url,
    )
    assert got == [server.url, "function", "http://127.0.0.1:9"]
