"""A hosted install link in a real browser: opened on its own (no ISV page, no SDK), it walks
the modal's steps full-page as the link's user, installs, and is then used up."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.api.test_oauth import Provider, connect
from tests.conftest import STORE_HASH, STORE_TOKEN
from tests.flows import ok
from tests.web.browser import shot
from tests.web.itemflow import Items

pytestmark = pytest.mark.browser
BIGCOMMERCE = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN}}


@pytest.fixture
def tab(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 480, "height": 760})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def test_a_link_installs_once_in_a_page_of_its_own(
    api: httpx2.Client, items: Items, provider: Provider, tab: Any
) -> None:
    ok(api.post("/headless/credentials", json={"userId": items.user_id, "credential": BIGCOMMERCE}))
    connect(api, items.user_id)
    link = ok(api.get(f"/users/{items.user_id}/integrations/{items.integration_id}/install-url"))
    tab.goto(link["url"])
    assert "/forge-install?" in tab.url  # sent on with a user token of its own
    item = tab.get_by_label("Which item")
    tab.get_by_role("option", name="chisel").wait_for(state="attached")
    tab.get_by_role("option", name="Shipped", exact=True).wait_for(state="attached")
    item.select_option(label="chisel")
    tab.get_by_label("Status to set").select_option(label="Shipped")
    tab.get_by_role("button", name="Install").click()
    tab.get_by_text("Installed.").wait_for()
    shot(tab.locator("body"), "install-link-done")
    (row,) = ok(api.get("/installations", params={"userId": items.user_id}))["data"]
    values = {f["name"]: f["value"] for block in row["formData"] for f in block["fields"]}
    assert values["item"] == "3"

    again = tab.goto(link["url"])
    assert again is not None
    assert again.status == 410
    assert tab.get_by_role("heading", name="Already installed").is_visible()
