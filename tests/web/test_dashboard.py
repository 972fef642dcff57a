"""The dashboard in a real browser against a real server: log in with a key (by keyboard),
see both environments side by side, an integration and its workflows, a failed run with its
block's input, output and error, re-run it and see the new run succeed, then change a user's
field value and deactivate their installation. Screenshots land in docs/img/dashboard-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from solder.security import passwords
from solder.store import dashboard_accounts
from tests.conftest import Server
from tests.eventflow import WORKFLOW_NAME, Installed, StreamBlock, fire, install_flow, write_flow
from tests.flows import ok, push_quickstart, settled, wait_until
from tests.web.browser import dashboard_tab, shot

pytestmark = pytest.mark.browser
BLOCK = "6f0c6b51-0000-4000-8000-00000000da51"


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    yield from dashboard_tab(browser, server.url)


@pytest.fixture
def parcels(api: httpx2.Client, tmp_path: Path, receiver_url: str) -> Installed:
    """The Parcels flow installed for gregg, one failed run (the receiver said 400), and the
    quick start's integration beside it."""
    block = StreamBlock("notify-isv", BLOCK, f"{receiver_url}/parcels")
    info = install_flow(api, write_flow(tmp_path / "flow", [block]), [block])
    push_quickstart(api)
    ok(httpx2.post(f"{receiver_url}/_fail", json={"status": 400, "count": 1}))
    fire(api, info.user_id, 7)
    (run,) = settled(api, info.workflow_id, info.user_id, 1)
    assert run["status"] == "failed"
    return info


def focused(page: Any) -> str:
    label: str = page.evaluate("document.activeElement.id || document.activeElement.tagName")
    return label


def log_in_by_keyboard(page: Any, key: str, env: str) -> None:
    for _ in range(30):  # Tab through the page until the key field has focus
        if focused(page) == f"key-{env}":
            break
        page.keyboard.press("Tab")
    assert focused(page) == f"key-{env}"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.type(key)
    page.keyboard.press("Enter")


def test_log_in_browse_find_a_failed_run_rerun_it_and_manage_the_installation(
    server: Server, api: httpx2.Client, parcels: Installed, page: Any, receiver_url: str
) -> None:
    main = page.locator("main")
    page.get_by_role("heading", name="Development and production").wait_for()
    log_in_by_keyboard(page, server.dev_key, "development")
    page.wait_for_url("**/#/development/integrations")

    # integrations and their workflows
    page.get_by_role("heading", name="Integrations").wait_for()
    parcels_card = main.get_by_role("region", name="Parcels")
    parcels_card.get_by_role("rowheader", name=WORKFLOW_NAME).wait_for()
    assert "Notify Isv" in parcels_card.text_content()
    parcels_card.get_by_text("Versions").click()
    parcels_card.locator("details").get_by_role("cell", name="released").wait_for()
    assert main.get_by_role("region", name="BigCommerce").count() == 1  # the quick start's
    shot(page, "dashboard-integrations")
    page.get_by_role("link", name="Custom events").click()
    main.get_by_role("rowheader", name="Parcel Shipped").wait_for()

    # production beside development
    page.get_by_role("link", name="Overview").click()
    page.get_by_label("API key").last.fill(server.prod_key)
    page.get_by_role("form", name="Log in to production").get_by_role("button").click()
    page.wait_for_url("**/#/production/integrations")
    page.get_by_role("link", name="Overview").click()
    both = page.locator(".side > section")
    both.nth(1).get_by_text("logged in").wait_for()
    assert both.nth(0).get_by_role("link", name="1", exact=True).count() >= 1  # 1 failed run
    shot(page, "dashboard-overview")

    # the failed run in the explorer, with its block's input and error
    envs, pages = (page.get_by_role("navigation", name=n) for n in ("Environments", "Pages"))
    envs.get_by_role("link", name="development").click()
    pages.get_by_role("link", name="Runs").click()
    page.get_by_role("heading", name="Runs").wait_for()  # not a label of the page before
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/runs?status=failed")
    rows = main.locator("tbody tr")
    rows.get_by_text("failed").wait_for()
    assert rows.count() == 1
    rows.get_by_role("link", name="gregg").wait_for()  # the user's name, not only the id
    rows.first.get_by_role("link").first.click()  # its start time opens it
    page.set_viewport_size({"width": 1200, "height": 1180})  # the whole run in the shots
    block = main.get_by_role("region", name="Block Notify Isv")
    block.get_by_text("failed").first.wait_for()
    assert "400" in block.locator(".error-text").text_content()
    assert f"{receiver_url}/parcels" in block.locator("details").first.text_content()  # input
    assert '"n": 7' in main.locator("pre").first.text_content()  # the trigger's input
    shot(page, "dashboard-run-failed")

    # re-run: the new run opens and succeeds (the receiver takes it this time)
    first_url = page.url
    page.get_by_role("button", name="Re-run").click()
    page.wait_for_url(lambda url: url != first_url)
    main.locator("#run-status.succeeded").wait_for()
    main.get_by_role("region", name="Block Notify Isv").get_by_text("succeeded").wait_for()
    shot(page, "dashboard-run-rerun")
    logs = ok(api.get("/logs", params={"workflowId": parcels.workflow_id}))["data"]
    assert [e["status"] for e in logs] == ["succeeded", "failed"]

    # the installation manager: change the URL field, then deactivate
    pages.get_by_role("link", name="Installations").click()
    page.get_by_label("Username starts with").fill("gre")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="gregg").click()
    card = main.get_by_role("region", name=f"Parcels: {WORKFLOW_NAME}")
    card.get_by_text("active", exact=True).wait_for()
    card.get_by_label("url").fill(f"{receiver_url}/moved")
    card.get_by_role("button", name="Save settings").click()
    page.get_by_role("status").get_by_text("Settings saved").wait_for()

    def stored() -> dict[str, Any]:
        got: dict[str, Any] = ok(api.get("/manage/users/gregg/workflows"))["data"][0]
        return got

    wait_until("the new URL", lambda: stored()["fields"][0]["value"] == f"{receiver_url}/moved")
    main.get_by_role("region", name=f"Parcels: {WORKFLOW_NAME}").get_by_role(
        "button", name="Deactivate"
    ).click()
    main.get_by_role("button", name="Activate", exact=True).wait_for()
    assert stored()["active"] is False
    assert (
        ok(api.get(f"/workflows/{parcels.workflow_id}", params={"userId": "gregg"}))["data"][
            "active"
        ]
        is False
    )
    shot(page, "dashboard-installation")


def test_keys_are_made_shown_once_and_revoked_and_settings_saved(
    server: Server, api: httpx2.Client, page: Any
) -> None:
    main = page.locator("main")
    page.get_by_label("API key").first.fill(server.dev_key)
    page.get_by_role("button", name="Log in").first.click()
    page.wait_for_url("**/#/development/integrations")
    pages = page.get_by_role("navigation", name="Pages")

    pages.get_by_role("link", name="API keys").click()
    main.get_by_text("active (this session)").wait_for()
    main.get_by_role("button", name="Create a development key").click()
    new_key = main.locator("#new-key")
    new_key.wait_for()
    key = new_key.text_content() or ""
    assert key.startswith("solder_sk_dev_")
    with server.client(key) as made:
        assert ok(made.get("/users")) == {"data": []}
    page.once("dialog", lambda dialog: dialog.accept())
    main.get_by_role("button", name="Revoke").click()
    main.get_by_text("revoked").wait_for()
    assert main.locator("#new-key").count() == 0  # shown once: gone after the reload
    shot(page, "dashboard-keys")  # (no key in the picture)
    with server.client(key) as made:
        assert made.get("/users").status_code == 401

    # a setting the page does not edit (set through the API) is kept when the page saves
    framing = ["https://app.acme.example"]
    with server.client(server.dev_key, prefix="") as mgmt:
        ok(mgmt.put("/manage/settings", json={"frameAncestors": framing}))
    pages.get_by_role("link", name="Settings").click()
    main.get_by_text("kept 60 days").wait_for()
    main.get_by_text("https://app.acme.example").wait_for()
    url = "https://acme.example/solder-errors"
    main.get_by_label("Webhook URL").fill(url)
    main.get_by_role("button", name="Save").click()
    page.get_by_role("status").get_by_text("Settings saved").wait_for()
    assert ok(api.get("/manage/settings"))["data"] == {
        "errorWebhookUrl": url, "frameAncestors": framing, "errorEventBridge": None,
    }  # fmt: skip


def test_an_account_logs_in_to_both_environments_from_the_login_page(
    server: Server, page: Any
) -> None:
    password = "correct horse battery staple"
    with server.services.engine.begin() as conn:
        dashboard_accounts.create(conn, "ops@example.com", passwords.hash_password(password),
                                  ["development", "production"])  # fmt: skip
    main = page.locator("main")
    form = main.get_by_role("form", name="Log in with an account")
    form.get_by_label("Email").fill("ops@example.com")
    form.get_by_label("Password").fill("not the password at all")
    shot(page, "dashboard-login")
    form.get_by_role("button", name="Log in").click()
    form.get_by_role("alert").get_by_text("wrong email or password").wait_for()

    form.get_by_label("Password").fill(password)
    form.get_by_label("Password").press("Enter")
    page.wait_for_url("**/#/development/integrations")
    page.get_by_role("link", name="Overview").click()
    both = page.locator(".side > section")
    both.nth(0).get_by_text("logged in").wait_for()
    both.nth(1).get_by_text("logged in").wait_for()
    assert main.get_by_role("form").count() == 0  # no login form left to show
    assert page.evaluate("document.cookie") == ""  # the sessions are HttpOnly
    envs = page.get_by_role("navigation", name="Environments")
    envs.get_by_role("link", name="production").click()
    page.wait_for_url("**/#/production/integrations")
    page.get_by_role("heading", name="Integrations").wait_for()
