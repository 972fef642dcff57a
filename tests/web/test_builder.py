"""The workflow builder in a real browser against a real server.

The headline test builds the quick start's two workflows from nothing in the builder (a new
integration; BigCommerce "order created" -> Stream Data to a URL the user configures; the
custom event "Fulfillment Updated" -> BigCommerce "update order status" mapped with the
variable picker), sees a problem on its field, test-runs each draft for real, releases them with
a note, installs them through the modal on an ISV page, fires both events, finds the runs in
the runs explorer, makes one fail and re-runs it. Another nests if/iterate blocks, reads the
picker's scope, places each problem on its own block and field, moves blocks by keyboard (Up,
Down, "Move to") and by mouse (drag by the grip), deletes, and asks before unsaved edits are
left; the last exports and imports byte for byte. Screenshots land in docs/img/builder-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import expect

from solder.sandbox.bigcommerce import StoreState
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.e2e.test_quickstart_flow import place_order
from tests.flows import FULFILLMENT, NEW_ORDER, ok, push_quickstart, settled, wait_until
from tests.web.browser import dashboard_tab, install
from tests.web.builderflow import add_block, block, download, pick, picture, saved

pytestmark = pytest.mark.browser
URL_LABEL = "Where to send new orders (your server's URL)"
STATUS_MAP = '{{ $lookup({"FULFILLED": "Shipped", "DELIVERED": "Completed"}, trigger.status) }}'
BIGCOMMERCE = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN}}


@pytest.fixture
def board(browser: Any, server: Server) -> Iterator[Any]:
    """The dashboard, logged in to development."""
    for tab in dashboard_tab(browser, server.url, height=900):
        tab.get_by_label("API key").first.fill(server.dev_key)
        tab.get_by_role("button", name="Log in").first.click()
        tab.wait_for_url("**/#/development/integrations")
        expect.set_options(timeout=30_000)  # assertions wait for answers on a loaded machine
        yield tab
        expect.set_options(timeout=5_000)  # Playwright's default, for other modules


def build_new_order_flow(page: Any, receiver_url: str) -> None:
    """Workflow 1: BigCommerce "order created" -> Stream Data, the URL asked of the user."""
    page.get_by_label("Workflow name").fill(NEW_ORDER)
    page.get_by_label("Workflow key").fill("new-order-to-acmeco")
    page.get_by_label("Trigger type").select_option(label="App event")
    page.locator("#t-app").select_option("bigcommerce")
    page.locator("#t-appevent").select_option("order_created")
    add_block(page, "Blocks", "Stream Data")
    stream = block(page, "stream-data")
    stream.get_by_text("More inputs").click()  # optional inputs wait there
    stream.get_by_label("body", exact=True).fill(
        '{"source": "bigcommerce", "orderId": "{{ trigger.id }}", "status": "{{ trigger.status }}"}'
    )

    # the server's checks: the URL is missing, said on the block and on the field
    page.get_by_role("button", name="Check", exact=True).click()
    url = stream.get_by_label("url (required)")
    expect(url).to_have_attribute("aria-invalid", "true")
    problem = page.locator(f"#{url.get_attribute('id')}-error")
    expect(problem).to_contain_text("required")
    expect(stream.get_by_role("list", name="Problems of stream-data")).to_be_visible()
    picture(page, page.locator("main"), "builder-problems")

    # the URL becomes a field the user fills in when installing
    url_row = stream.locator("[data-input=url]")
    url_row.get_by_label("Configurable by user").check()
    stream.get_by_label("Label shown to the user for url").fill(URL_LABEL)
    stream.get_by_label("Help text for url").fill("We POST each new order there, signed.")
    page.get_by_role("button", name="Save draft").click()
    saved(page)
    expect(page.locator(".problems-summary")).to_have_count(0)  # the check's list is gone

    # test run: a sample order, the URL the user would give
    page.get_by_label("Sample trigger data (JSON)").fill('{"id": 101, "status": "Pending"}')
    page.get_by_label(f"{URL_LABEL} (stream-data)").fill(f"{receiver_url}/acmeco/orders")
    page.get_by_role("button", name="Test run").click()
    expect(page.locator("#test-status")).to_have_text("succeeded")
    step = page.get_by_role("region", name="Step stream-data")
    assert '"orderId": 101' in (step.locator("details").first.text_content() or "")  # input
    assert '"statusCode": 200' in (step.locator("details").nth(1).text_content() or "")  # output
    got = [(r["path"], r["json"]["orderId"]) for r in received(receiver_url)]
    assert got == [("/acmeco/orders", 101)]
    picture(page, page.locator("main"), "builder-test-run")


def build_fulfillment_flow(page: Any, tester: str, order_id: int) -> None:
    """Workflow 2: the custom event -> BigCommerce "update order status", mapped by picker."""
    page.get_by_label("Workflow name").fill(FULFILLMENT)
    page.get_by_label("Workflow key").fill("fulfillment-to-bigcommerce")
    page.get_by_label("Custom event").select_option("Fulfillment Updated")
    add_block(page, "Blocks", "App action")
    card = block(page, "app-action")
    card.get_by_label("App", exact=True).select_option("bigcommerce")
    card.get_by_label("Action", exact=True).select_option("update_order_status")
    card.get_by_label("Block name").fill("Update an order status")
    card.get_by_role("button", name="Insert a variable into orderId").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="trigger.status", exact=True).wait_for()
    picture(page, dialog, "builder-picker")
    dialog.get_by_role("button", name="Close").click()
    pick(page, card, "orderId", "trigger.orderId")
    pick(page, card, "status", "trigger.status")
    assert card.get_by_label("orderId (required)").input_value() == "{{ trigger.orderId }}"
    status = card.get_by_label("status (required)")
    assert status.input_value() == "{{ trigger.status }}"
    status.fill(STATUS_MAP)  # AcmeCo's statuses -> BigCommerce's, as the quick start maps them
    page.get_by_role("button", name="Save draft").click()
    saved(page)

    # the sample comes from the event's declared body; the test run changes a real order
    sample = page.get_by_label("Sample trigger data (JSON)")
    assert '"orderId": "text"' in sample.input_value()
    sample.fill(f'{{"orderId": "{order_id}", "status": "FULFILLED"}}')
    page.get_by_label("Run as user").fill(tester)
    page.get_by_role("button", name="Test run").click()
    expect(page.locator("#test-status")).to_have_text("succeeded")
    output = page.get_by_role("region", name="Step app-action").locator("details").nth(1)
    expect(output).to_contain_text('"status": "Shipped"')


def received(receiver_url: str) -> list[Any]:
    got: list[Any] = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    return got


def release(page: Any, note: str) -> None:
    page.get_by_label("Version note").fill(note)
    page.get_by_role("button", name="Release", exact=True).click()
    page.get_by_role("status").get_by_text("Released v1").wait_for()
    page.locator("main").get_by_role("cell", name=note).wait_for()


def test_build_the_quick_start_test_release_install_run_and_rerun(
    server: Server,
    api: httpx2.Client,
    board: Any,
    host: str,
    receiver_url: str,
    sandbox_store: tuple[str, StoreState],
) -> None:
    page, (store_url, store) = board, sandbox_store
    main = page.locator("main")
    # a new integration, then its first workflow
    page.get_by_role("button", name="New integration").click()
    page.get_by_label("Integration key").fill("bigcommerce-quickstart")
    page.get_by_label("App", exact=True).select_option("bigcommerce")
    page.get_by_label("Name shown to users").fill("BigCommerce")
    page.get_by_role("button", name="Create integration").click()
    page.get_by_role("heading", name="New workflow").wait_for()
    build_new_order_flow(page, receiver_url)
    release(page, "First version: new orders to AcmeCo")

    # a change after the release, read against v1
    block(page, "stream-data").get_by_label("body", exact=True).fill(
        '{"source": "bigcommerce", "orderId": "{{ trigger.id }}", "total": "{{ trigger.total }}"}'
    )
    page.get_by_role("button", name="Save draft").click()
    saved(page)
    page.get_by_role("button", name="Draft against v1").click()
    diff = page.locator("#diff")
    expect(diff.locator("li.change.changed")).to_contain_text("Block 'stream-data'")
    diff.get_by_text("The YAML, line by line").click()
    expect(diff.locator("pre .add")).to_contain_text("total")
    picture(page, page.get_by_role("region", name="Versions"), "builder-versions")

    # the second workflow, test-run as a user whose store is connected
    tester = ok(api.post("/users", json={"username": "tester"}))["userId"]
    ok(api.post("/headless/credentials", json={"userId": tester, "credential": BIGCOMMERCE}))
    tried = place_order(store_url)

    # the custom event it starts from, defined on the Custom events page
    pages = page.get_by_role("navigation", name="Pages")
    pages.get_by_role("link", name="Custom events").click()
    page.get_by_label("Event name").fill("Fulfillment Updated")
    page.get_by_label("Description (optional)").fill("A fulfillment status changed in AcmeCo")
    sample = page.get_by_label("Sample body (JSON)")
    sample.fill('{"orderId": "String", "status": ')
    page.get_by_role("button", name="Save event").click()
    expect(main.get_by_role("alert")).to_contain_text("Sample body: not JSON")
    expect(sample).to_be_focused()
    sample.fill('{"orderId": "String", "status": "String"}')
    page.get_by_role("button", name="Save event").click()
    expect(main.get_by_role("row", name="Fulfillment Updated")).to_be_visible()
    (event,) = ok(api.get("/events"))["data"]
    assert (event["name"], event["body"]) == (
        "Fulfillment Updated", {"orderId": "String", "status": "String"}
    )  # fmt: skip
    pages.get_by_role("link", name="Integrations").click()
    main.get_by_role("link", name="New workflow in BigCommerce").click()
    page.get_by_role("heading", name="New workflow").wait_for()
    build_fulfillment_flow(page, tester, tried)
    assert store.orders[tried]["status_id"] == 2  # Shipped, by the test run
    release(page, "Fulfillment updates set the order status")
    picture(page, main, "builder-workflow")

    # gregg installs both through the modal on AcmeCo's page
    (integration,) = ok(api.get("/integrations"))["data"]
    flows = {w["name"]: w["workflowId"] for w in integration["workflows"]}
    assert set(flows) == {NEW_ORDER, FULFILLMENT}
    gregg = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    token = ok(api.get(f"/users/{gregg}/token"))["token"]
    isv = page.context.new_page()
    isv.goto(host)
    modal = install(isv, token, integrationId=integration["integrationId"])
    card = modal.get_by_role("region", name="BigCommerce")
    card.get_by_label("Store hash").fill(STORE_HASH)
    card.get_by_label("Access token").fill(STORE_TOKEN)
    card.get_by_role("button", name="Connect BigCommerce").click()
    card.get_by_text("Connected").wait_for()
    modal.get_by_role("button", name="Continue").click()
    modal.get_by_label(URL_LABEL).fill(f"{receiver_url}/acmeco/orders")
    modal.get_by_role("button", name="Install").click()
    isv.wait_for_function("window.results.length === 1")
    assert isv.evaluate("window.results[0].success") is True
    isv.close()

    # both events run gregg's copies
    order_id = place_order(store_url)
    data = {"orderId": str(order_id), "status": "DELIVERED"}
    ok(api.post("/run/event", json={"event": "Fulfillment Updated", "userId": gregg, "data": data}))
    (first,) = settled(api, flows[NEW_ORDER], gregg, 1)
    (second,) = settled(api, flows[FULFILLMENT], gregg, 1)
    assert (first["status"], second["status"]) == ("succeeded", "succeeded")
    assert store.orders[order_id]["status"] == "Completed"
    wait_until("the delivery", lambda: len(received(receiver_url)) == 2)

    # the runs explorer finds them
    pages = page.get_by_role("navigation", name="Pages")
    pages.get_by_role("link", name="Runs").click()
    page.get_by_role("heading", name="Runs").wait_for()
    page.get_by_label("Workflow").select_option(label=FULFILLMENT)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"**/runs?workflowId={flows[FULFILLMENT]}")
    expect(main.locator("tbody tr")).to_have_count(1)
    expect(main.locator("tbody tr td.status")).to_have_text("succeeded")

    # the receiver refuses the next order once: that run fails; re-run it from the explorer
    ok(httpx2.post(f"{receiver_url}/_fail", json={"status": 400, "count": 1}))
    place_order(store_url)
    runs = settled(api, flows[NEW_ORDER], gregg, 2)
    assert sorted(r["status"] for r in runs) == ["failed", "succeeded"]
    page.get_by_label("Workflow").select_option(label=NEW_ORDER)
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/runs?*status=failed")
    expect(main.locator("tbody tr")).to_have_count(1)
    expect(main.locator("tbody tr td.status")).to_have_text("failed")
    main.locator("tbody tr").first.get_by_role("link").first.click()
    page.get_by_role("button", name="Re-run").click()
    main.locator("#run-status.succeeded").wait_for()
    assert len(received(receiver_url)) == 4  # test run, first order, the refused one, its re-run


def open_in_builder(page: Any, name: str) -> None:
    page.reload()  # the page was drawn before the test pushed
    page.locator("main").get_by_role("link", name=f"Open {name} in the builder").click()
    page.get_by_role("heading", name=f"Workflow: {name}").wait_for()


def focused(page: Any) -> str:
    label: str = page.evaluate("document.activeElement.getAttribute('aria-label') || ''")
    return label


def test_nested_blocks_move_by_keyboard_and_mouse_and_carry_their_problems(
    api: httpx2.Client, board: Any
) -> None:
    page = board
    push_quickstart(api)
    open_in_builder(page, NEW_ORDER)
    add_block(page, "Blocks", "If / else")
    add_block(page, "Then of if-else", "Stop")
    add_block(page, "Else of if-else", "Iterate")
    add_block(page, "Blocks of iterate", "HTTP request")
    branch = block(page, "if-else")
    for inner in ("stop", "iterate", "http-request"):
        expect(branch.get_by_role("region", name=f"Block {inner}", exact=True)).to_be_visible()
    assert block(page, "iterate").get_by_label("method").count() == 1  # drawn from the schema

    # the picker inside the iterate offers the item and the earlier blocks' outputs
    http = block(page, "http-request")
    http.get_by_role("button", name="Insert a variable into url", exact=True).click()
    dialog = page.get_by_role("dialog")
    for path in ("item", "index", "trigger", "blocks.stream.statusCode", "blocks.`if-else`.result"):
        dialog.get_by_role("button", name=path, exact=True).wait_for()
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id").endswith("-url")  # back in the field

    # JSON typed half-way is said at once, on the field
    body = block(page, "stream").get_by_label("body", exact=True)
    before = body.input_value()
    body.fill('{"orderId": ')
    expect(body).to_have_attribute("aria-invalid", "true")
    expect(block(page, "stream").get_by_text("This is not valid JSON.")).to_be_visible()
    body.fill(before)
    expect(body).not_to_have_attribute("aria-invalid", "true")

    # each problem on its own block, nested ones included, and on its field
    page.get_by_role("button", name="Check", exact=True).click()
    expect(http.get_by_label("url (required)")).to_have_attribute("aria-invalid", "true")
    inner = http.get_by_role("list", name="Problems of http-request")
    outer = block(page, "iterate").get_by_role("list", name="Problems of iterate")
    expect(inner).to_contain_text("url")
    expect(outer).to_contain_text("items")
    assert "url" not in (outer.text_content() or "")

    # move the if block above Stream Data by keyboard; focus stays on the block's controls
    headings = page.locator("main ol.blocks > li > section > .block-head h3")
    expect(headings.first).to_contain_text("1. Stream Data")
    branch.get_by_role("button", name="Move if-else up").focus()
    page.keyboard.press("Enter")
    expect(headings.first).to_contain_text("1. If / else")
    assert focused(page) == "Move if-else down"  # "up" is disabled at the top
    page.keyboard.press("Enter")
    expect(headings.first).to_contain_text("1. Stream Data")
    picture(page, page.get_by_role("region", name="Blocks", exact=True), "builder-nested")

    # with the mouse: the Stop block dragged by its grip out of Then, before Stream Data, then last
    page.set_viewport_size({"width": 1200, "height": 3400})  # both ends in view: no scrolling
    page.evaluate("window.scrollTo(0, 0)")
    top = page.locator("main ol.blocks[aria-label=Blocks] > li > section")
    onto = {"x": 200, "y": 12}  # the block's heading
    block(page, "stop").locator(".grip").drag_to(block(page, "stream"), target_position=onto)
    expect(top).to_have_count(3)
    expect(top.first).to_have_attribute("aria-label", "Block stop")
    add_row = page.get_by_role("group", name="Add to Blocks", exact=True)
    page.evaluate("window.scrollTo(0, 0)")
    block(page, "stop").locator(".grip").drag_to(add_row)  # onto a list's Add row: last
    expect(top.last).to_have_attribute("aria-label", "Block stop")
    expect(branch.get_by_role("region", name="Block stop")).to_have_count(0)
    into_itself = page.get_by_role("group", name="Add to Then of if-else", exact=True)
    page.evaluate("window.scrollTo(0, 0)")
    branch.locator(".grip").first.drag_to(into_itself)  # refused: a block cannot hold itself
    expect(top).to_have_count(3)
    expect(top.nth(1)).to_have_attribute("aria-label", "Block if-else")

    # by keyboard, into another list: "Move stop to" Then of if-else
    stop = block(page, "stop")
    stop.get_by_label("Move stop to").select_option(label="Then of if-else")
    stop.get_by_role("button", name="Move", exact=True).press("Enter")
    expect(branch.get_by_role("region", name="Block stop")).to_have_count(1)
    expect(top).to_have_count(2)
    assert page.evaluate("document.activeElement.textContent") == "Move"  # focus went along

    page.once("dialog", lambda d: d.accept())
    block(page, "if-else").get_by_role("button", name="Delete if-else").press("Enter")
    expect(block(page, "if-else")).to_have_count(0)
    expect(block(page, "iterate")).to_have_count(0)  # with what it held
    expect(block(page, "stop")).to_have_count(0)
    expect(top).to_have_count(1)

    # unsaved edits: leaving asks, and "stay" keeps the page and its address
    here = page.url
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.get_by_role("link", name="← Integrations").click()
    page.wait_for_function("(here) => location.href === here", arg=here)
    assert asked == ["Leave the builder? Your unsaved changes will be lost."]
    expect(block(page, "stream")).to_be_visible()


def test_export_then_import_round_trips_byte_for_byte(
    api: httpx2.Client, board: Any, tmp_path: Path
) -> None:
    page = board
    push_quickstart(api)
    open_in_builder(page, FULFILLMENT)
    page.get_by_role("button", name="Save draft").click()  # the builder keeps what it loaded
    saved(page, "Draft saved (nothing changed)")
    files: dict[str, bytes] = {}
    for n, fmt in enumerate(("yaml", "json")):
        button = page.get_by_role("button", name=f"Export {fmt.upper()}")
        (tmp_path / f"{n}a").mkdir()
        first = download(page, button, tmp_path / f"{n}a")
        exported = next((tmp_path / f"{n}a").iterdir())
        page.get_by_label("Import a file (YAML or JSON)").set_input_files(str(exported))
        report = page.locator("#import-report")
        expect(report).to_contain_text(f"Imported {exported.name}")
        expect(report).to_contain_text("fulfillment-to-bigcommerce (unchanged)")
        expect(report).not_to_contain_text("(changed)")
        (tmp_path / f"{n}b").mkdir()
        assert download(page, button, tmp_path / f"{n}b") == first
        files[fmt] = first
    assert len(ok(api.get("/integrations"))["data"]) == 1

    # the same file under another key, imported on the Integrations page: a second integration
    text = files["yaml"].decode().replace("key: bigcommerce-quickstart", "key: bigcommerce-copy")
    copy = tmp_path / "copy.yaml"
    copy.write_text(text.replace("name: BigCommerce\n", "name: BigCommerce copy\n", 1))
    page.locator("main").get_by_role("link", name="← Integrations").click()
    page.get_by_role("heading", name="Integrations").wait_for()
    page.get_by_label("Import a file (YAML or JSON)").set_input_files(str(copy))
    card = page.locator("main").get_by_role("region", name="BigCommerce copy")
    expect(card.get_by_role("cell", name="draft only")).to_have_count(2)
    expect(page.locator("#import-report")).to_contain_text("fulfillment-to-bigcommerce (changed)")
