"""``versionIds``, ``outputOverride`` and ``authenticate({category})`` through the SDK in
Chromium, and which pages may frame the modal (``frameAncestors``: Chromium enforces
``Content-Security-Policy: frame-ancestors``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import ok, wait_until
from tests.servers import run_asgi
from tests.streamflow import EVENT, Notes, push_notes
from tests.web.browser import host_app, install, results, shot

pytestmark = pytest.mark.browser


@pytest.fixture
def notes(api: httpx2.Client, tmp_path: Path) -> Notes:
    return push_notes(api, tmp_path / "notes")


def versions(api: httpx2.Client, notes: Notes) -> tuple[int, int]:
    wf = ok(api.get(f"/workflows/{notes.send}", params={"userId": notes.user_id}))["data"]
    return wf["installedVersion"], wf["version"]


def test_install_the_version_asked_for_then_update_to_another(
    api: httpx2.Client, notes: Notes, page: Any, receiver_url: str
) -> None:
    modal = install(page, notes.token, workflowIds=[notes.send], versionIds=[notes.v1])
    modal.get_by_label("Where to send notes").fill(f"{receiver_url}/notes")
    modal.get_by_role("button", name="Install").click()
    page.wait_for_function("window.results.length === 1")
    assert results(page) == [{"success": True, "workflowIds": [notes.send]}]
    assert versions(api, notes) == (1, 2)

    modal = install(page, notes.token, "update", workflowIds=[notes.send], versionIds=[notes.v2])
    url = modal.get_by_label("Where to send notes")
    url.wait_for()
    assert url.input_value() == f"{receiver_url}/notes"  # carried over
    modal.get_by_role("button", name="Save").click()
    page.wait_for_function("window.results.length === 2")
    assert versions(api, notes) == (2, 2)


def test_a_version_that_does_not_exist_or_fit_is_said_in_the_frame(notes: Notes, page: Any) -> None:
    modal = install(page, notes.token, workflowIds=[notes.send], versionIds=["v9"], hide=True)
    modal.get_by_role("heading", name="This cannot be installed").wait_for()
    page.locator(".solder-mask").wait_for(state="visible")  # shown although hide was asked
    text = "versionId: 'v9' is not a released version of the workflow 'Send notes'"
    assert modal.get_by_text(text).is_visible()
    shot(page.locator("iframe.solder-frame"), "modal-7-wrong-version")

    # a version of another workflow of the integration
    modal = install(page, notes.token, workflowIds=[notes.send], versionIds=[notes.quiet_v1])
    text = f"versionId: '{notes.quiet_v1}' is not a released version of the workflow 'Send notes'"
    modal.get_by_text(text).wait_for()
    assert results(page) == [{"success": False}]  # the first modal, closed by the second


def test_the_output_override_sends_this_installations_data_elsewhere(
    api: httpx2.Client, notes: Notes, page: Any, receiver_url: str
) -> None:
    override = {"url": f"{receiver_url}/tenant-42", "headers": {"X-Tenant": "42"}}
    modal = install(page, notes.token, workflowIds=[notes.send], outputOverride=override)
    modal.get_by_label("Where to send notes").fill(f"{receiver_url}/notes")
    modal.get_by_role("button", name="Install").click()
    page.wait_for_function("window.results.length === 1")
    ok(api.post("/run/event", json={"event": EVENT, "userId": notes.user_id,
                                    "data": {"note": "hi"}}))  # fmt: skip

    def got() -> list[Any]:
        data: list[Any] = httpx2.get(f"{receiver_url}/_received").json()["data"]
        return data

    (hit,) = wait_until("the override's receiver is called", got)
    assert (hit["path"], hit["headers"]["x-tenant"], hit["json"]["note"]) == (
        "/tenant-42", "42", "hi",
    )  # fmt: skip


def test_a_bad_output_override_is_said_in_the_frame(notes: Notes, page: Any) -> None:
    modal = install(page, notes.token, integrationId=notes.integration_id,
                    outputOverride={"destination": "s3://bucket"})  # fmt: skip
    modal.get_by_role("heading", name="This cannot be installed").wait_for()
    message = "outputOverride.destination: unknown key; the keys are url, headers"
    assert modal.get_by_text(message).is_visible()


def test_authenticate_a_category_lets_the_user_pick_the_app(
    api: httpx2.Client, notes: Notes, page: Any
) -> None:
    modal = install(page, notes.token, "authenticate", category="ecommerce")
    apps = modal.get_by_role("list", name="Apps you can connect")
    apps.get_by_role("button", name="Shopify").wait_for()
    assert apps.get_by_role("button").all_inner_texts() == ["BigCommerce", "Shopify"]
    shot(page.locator("iframe.solder-frame"), "modal-8-category")
    apps.get_by_role("button", name="BigCommerce").click()
    modal.get_by_role("heading", name="Connect BigCommerce").wait_for()
    modal.get_by_label("Store hash").fill(STORE_HASH)
    modal.get_by_label("Access token").fill(STORE_TOKEN)
    modal.get_by_role("button", name="Connect BigCommerce").click()
    modal.get_by_role("button", name="Continue").click()
    page.wait_for_function("window.results.length === 1")
    (listed,) = ok(api.get(f"/users/{notes.user_id}/credentials"))["data"]
    assert listed["type"] == "bigcommerce"
    cid = listed["credentialId"]
    assert results(page) == [{"success": True, "credentialId": cid, "connectionId": cid}]


def framed(page: Any, token: str, integration_id: str) -> Any:
    """Open the modal from ``page``; the browser's own frame object for it."""
    install(page, token, integrationId=integration_id)
    page.locator("iframe.solder-frame").wait_for()
    return page.locator("iframe.solder-frame").element_handle().content_frame()


def test_only_the_listed_origins_can_frame_the_modal(
    server: Server, browser: Any, notes: Notes, host: str
) -> None:
    with server.client(prefix="") as mgmt:
        ok(mgmt.put("/manage/settings", json={"frameAncestors": [host]}))
    context = browser.new_context(viewport={"width": 900, "height": 760})
    context.set_default_timeout(30_000)
    try:
        listed = context.new_page()
        listed.goto(host)
        modal = install(listed, notes.token, integrationId=notes.integration_id)
        modal.get_by_label("Where to send notes").wait_for()  # drawn: the listed origin

        with run_asgi(host_app(server.url)) as elsewhere:  # the same page, another origin
            other = context.new_page()
            refusals: list[str] = []
            other.on("console", lambda m: refusals.append(m.text))
            other.goto(elsewhere)
            frame = framed(other, notes.token, notes.integration_id)
            wait_until("Chromium refuses the frame", lambda: any(
                "frame-ancestors" in text for text in refusals))  # fmt: skip
            assert frame.url.startswith("chrome-error://")  # nothing of the modal was drawn
            assert other.frame_locator("iframe.solder-frame").get_by_role("heading").count() == 0
    finally:
        context.close()
