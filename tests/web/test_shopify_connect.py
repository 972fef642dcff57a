"""Connecting an app whose sign-in page depends on the account (Shopify's shop domain) in
the modal: it asks for the shop first, refuses one that is not a ``*.myshopify.com`` domain
without opening a window, then signs in through the popup."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.apps.test_shopify import SHOP, provider  # noqa: F401 - the fixture, shared
from tests.flows import ok
from tests.web.browser import closed, install, results

pytestmark = pytest.mark.browser


@pytest.mark.usefixtures("provider")
def test_the_modal_asks_the_shop_then_signs_in_through_the_popup(
    api: httpx2.Client, page: Any
) -> None:
    user_id = ok(api.post("/users", json={"username": "merchant"}))["userId"]
    token = ok(api.get(f"/users/{user_id}/token"))["token"]
    modal = install(page, token, "authenticate", app="shopify")
    shop = modal.get_by_label("Shop domain")
    shop.fill("acme.example.com")
    modal.get_by_role("button", name="Connect Shopify").click()
    modal.get_by_text("Shop domain").first.wait_for()
    modal.locator("[aria-invalid=true]").wait_for()  # the server's refusal, on the field
    assert len(page.context.pages) == 1  # no window was left open for it

    shop.fill(SHOP)
    with page.expect_popup() as opened:
        modal.get_by_role("button", name="Connect Shopify").click()
    closed(opened.value)  # the shop consents at once; the callback page closes itself
    modal.get_by_text("Shopify is connected.").wait_for()
    modal.get_by_role("button", name="Continue").click()
    page.wait_for_function("window.results.length === 1")
    (listed,) = ok(api.get(f"/users/{user_id}/credentials"))["data"]
    assert listed["type"] == "shopify"
    cid = listed["credentialId"]
    assert results(page) == [{"success": True, "credentialId": cid, "connectionId": cid}]
