"""The install modal in a real browser: an ISV page on another origin loads the SDK from
Solder, sets a user token and calls ``Alloy.install``; the user connects an OAuth2 app in the
popup and an API-key app in the form, picks values from live dropdowns and installs; the ISV
page's callback gets the result, and an event fired through the API then runs the workflow
for that user. Each step's screenshot lands in docs/img."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
import jwt
import pytest
from playwright.sync_api import expect

from solder.sandbox.bigcommerce import StoreState
from solder.store.types import utcnow
from tests.api.test_catalog import place_order
from tests.api.test_oauth import Provider
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import ok, settled
from tests.servers import run_asgi
from tests.web.browser import closed, host_app, install, results, shot
from tests.web.itemflow import EVENT, Items

pytestmark = pytest.mark.browser
SHIPPED = "2"  # the sandbox store's status id for "Shipped"


def test_install_connects_both_apps_picks_live_values_and_the_workflow_runs(
    server: Server,
    api: httpx2.Client,
    items: Items,
    provider: Provider,
    page: Any,
    sandbox_store: tuple[str, StoreState],
) -> None:
    modal = install(page, items.token, integrationId=items.integration_id)
    frame = page.locator("iframe.solder-frame")
    bigcommerce = modal.get_by_role("region", name="BigCommerce")
    oauth_card = modal.get_by_role("region", name="OAuth2 sandbox")
    bigcommerce.get_by_label("Store hash").wait_for()
    shot(frame, "modal-1-connect")
    assert page.get_by_role("dialog", name="Install integration").is_visible()
    assert page.locator("h1").evaluate("(el) => el.closest('[inert]') !== null")  # page behind

    # the OAuth2 app: the popup goes through the provider's consent and closes itself
    with page.expect_popup() as popup:
        oauth_card.get_by_role("button", name="Connect OAuth2 sandbox").click()
    closed(popup.value)
    oauth_card.get_by_text("Connected").wait_for()

    # the API-key app: a credential the store refuses is named, the right one connects
    bigcommerce.get_by_label("Store hash").fill(STORE_HASH)
    bigcommerce.get_by_role("button", name="Connect BigCommerce").click()
    token_error = bigcommerce.locator("#cred-bigcommerce-accessToken-error")
    assert token_error.text_content() == "This field is required."
    assert bigcommerce.get_by_label("Access token").get_attribute("aria-invalid") == "true"
    bigcommerce.get_by_label("Access token").fill("wrong-token")
    bigcommerce.get_by_role("button", name="Connect BigCommerce").click()
    modal.get_by_role("alert").get_by_text("bigcommerce refused it").wait_for()
    bigcommerce.get_by_label("Access token").fill(STORE_TOKEN)
    bigcommerce.get_by_role("button", name="Connect BigCommerce").click()
    bigcommerce.get_by_text("Connected").wait_for()
    shot(frame, "modal-2-connected")
    modal.get_by_role("button", name="Continue").click()

    # the settings: both dropdowns are filled from the user's own accounts
    item = modal.get_by_label("Which item")
    status = modal.get_by_label("Status to set")
    modal.get_by_role("option", name="bellows").wait_for(state="attached")
    modal.get_by_role("option", name="Shipped", exact=True).wait_for(state="attached")
    expect(item).to_be_focused()  # the step's first field (retried, as focus lands a moment later)
    modal.get_by_role("button", name="Install").click()
    assert item.get_attribute("aria-invalid") == "true"
    assert modal.locator(f"#{item.get_attribute('id')}-error").text_content() == (
        "This field is required."
    )
    item.select_option(label="bellows")
    status.select_option(label="Shipped")
    assert modal.get_by_label("A note for your team (optional)").input_value() == "from the modal"
    shot(frame, "modal-3-settings")
    modal.get_by_role("button", name="Install").click()

    page.wait_for_function("window.results.length === 1")
    assert results(page) == [{"success": True, "workflowIds": [items.workflow_id]}]
    assert page.locator(".solder-mask").count() == 0  # the SDK closed the modal
    assert page.locator("[inert]").count() == 0  # and gave the page back
    shot(page.locator("body"), "modal-4-host-page")

    # the user's copy is active with the chosen values, and an event runs it
    workflow = ok(api.get(f"/workflows/{items.workflow_id}", params={"userId": items.user_id}))
    assert (workflow["data"]["installed"], workflow["data"]["active"]) == (True, True)
    order_id = place_order(sandbox_store[0])
    body = {"event": EVENT, "userId": items.user_id, "data": {"orderId": order_id}}
    ok(api.post("/run/event", json=body))
    (run,) = settled(api, items.workflow_id, items.user_id, 1)
    assert run["status"] == "succeeded", run
    assert {"id": 2, "name": "bellows"} in [r["data"] for r in run["results"]]
    assert sandbox_store[1].orders[order_id]["status_id"] == int(SHIPPED)


def test_a_message_from_another_origin_is_ignored(
    server: Server, items: Items, page: Any, host: str
) -> None:
    modal = install(page, items.token, integrationId=items.integration_id)
    modal.get_by_role("button", name="Connect BigCommerce").wait_for()
    with run_asgi(host_app(server.url)) as elsewhere:
        # a page of another origin, framed by the ISV's page, forges the modal's message
        page.evaluate(
            """(src) => { const f = document.createElement("iframe");
                          f.id = "evil"; f.src = src; document.body.appendChild(f); }""",
            f"{elsewhere}/evil",
        )
        page.frame_locator("#evil").locator("body").wait_for(state="attached")
        page.frame(url=f"{elsewhere}/evil").wait_for_function("window.sent === true")
        # the ISV page itself posts one too: only Solder's origin counts
        page.evaluate("window.postMessage({workflowCreated: true, workflowIds: ['mine']}, '*')")
        # then the real frame says "close": the SDK must have ignored both forgeries
        modal.get_by_role("button", name="Close").click()
        page.wait_for_function("window.results.length > 0")
    assert results(page) == [{"success": False}]
    assert page.locator(".solder-mask").count() == 0


def test_an_expired_token_shows_a_message_even_when_hidden(
    server: Server, items: Items, page: Any
) -> None:
    now = utcnow()
    claims = {"sub": items.user_id, "env": "development", "iss": "solder", "aud": "solder-user",
              "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)}  # fmt: skip
    expired = jwt.encode(claims, server.services.token_secret, algorithm="HS256")
    modal = install(page, expired, integrationId=items.integration_id, hide=True)
    modal.get_by_role("heading", name="This link has expired").wait_for()
    page.locator(".solder-mask").wait_for(state="visible")  # shown although hide was asked
    assert modal.get_by_text("open it again from the app you came from").is_visible()
    shot(page.locator("iframe.solder-frame"), "modal-5-expired")


def test_a_refused_consent_is_said_and_the_user_can_try_again(
    items: Items, provider: Provider, page: Any
) -> None:
    modal = install(page, items.token, integrationId=items.integration_id)
    card = modal.get_by_role("region", name="OAuth2 sandbox")
    provider.book.deny = True
    with page.expect_popup() as popup:
        card.get_by_role("button", name="Connect OAuth2 sandbox").click()
    closed(popup.value)
    modal.get_by_role("alert").get_by_text("OAuth2 sandbox was not connected").wait_for()
    assert "access_denied" in (modal.get_by_role("alert").text_content() or "")
    provider.book.deny = False
    with page.expect_popup() as popup:
        card.get_by_role("button", name="Connect OAuth2 sandbox").click()
    closed(popup.value)
    card.get_by_text("Connected").wait_for()


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (375, 667)])
def test_the_modal_fits_its_frame_or_the_phone_and_escape_closes_it(
    items: Items, page: Any, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    modal = install(page, items.token, integrationId=items.integration_id)
    field = modal.get_by_label("Store hash")
    field.wait_for()
    box = page.locator("iframe.solder-frame").bounding_box()
    expected = (400, 659) if width > 420 else (width, height)
    assert (round(box["width"]), round(box["height"])) == expected
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert modal.locator("html").evaluate("(el) => el.scrollWidth") <= expected[0]
    if width <= 420:
        shot(page.locator("iframe.solder-frame"), "modal-7-phone")
    field.press("Escape")  # typed inside the frame: the page passes it on
    page.wait_for_function("window.results.length === 1")
    assert results(page) == [{"success": False}]


def test_the_modal_posts_only_to_the_origin_it_was_opened_for(
    server: Server, items: Items, page: Any, host: str
) -> None:
    """Framed by a page of another origin than the one it was told, the modal's messages
    never reach that page; framed by the right one, they do."""
    got = page.evaluate(
        """async (a) => {
             const seen = [];
             window.addEventListener("message", (e) => {
               if (e.origin === a.solder) seen.push(e.data);
             });
             const frame = (origin) => new Promise((done) => {
               const f = document.createElement("iframe");
               f.onload = () => done();
               f.src = a.solder + "/forge-install?token=expired&origin=" + origin;
               document.body.appendChild(f);
             });
             await frame("http://127.0.0.1:1");
             const before = seen.length;
             await frame(a.host);
             while (seen.length === before) await new Promise((r) => setTimeout(r, 20));
             return {before, seen};
           }""",
        {"solder": server.url, "host": host},
    )
    assert got == {"before": 0, "seen": [{"showModal": True}]}
