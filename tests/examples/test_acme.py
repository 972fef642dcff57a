"""The AcmeCo example ISV app (``examples/acme``) against a real Solder server.

Its backend keeps the API key to itself, mints user tokens for the frontend SDK, and lists
the user's integrations with their installed and released versions, so the page can offer
an update when a newer version is out.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx2
import pytest

from solder.push import push
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import EXAMPLES, install_headless, ok, push_quickstart
from tests.servers import run_asgi
from tests.web.browser import launch, shot

ACME = Path(__file__).resolve().parents[2] / "examples" / "acme" / "server.py"


def load_acme() -> ModuleType:
    spec = importlib.util.spec_from_file_location("acme_server", ACME)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def acme_url(server: Server, api: httpx2.Client) -> Iterator[str]:
    push_quickstart(api)
    app = load_acme().create_app(server.url, server.dev_key, "acme-demo")
    with run_asgi(app) as url:
        yield url


@pytest.fixture
def acme(acme_url: str) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=acme_url, timeout=10) as browser:
        yield browser


def shown(acme: httpx2.Client) -> dict[str, Any]:
    (integration,) = ok(acme.get("/api/integrations"))["data"]
    return dict(integration)


def test_the_page_loads_the_sdk_from_solder_and_never_shows_the_api_key(
    server: Server, acme: httpx2.Client
) -> None:
    page = acme.get("/")
    assert page.status_code == 200
    assert f'<script src="{server.url}/sdk/solder.js"></script>' in page.text
    answers = [page.text, acme.get("/api/token").text, acme.get("/api/integrations").text]
    assert all(server.dev_key not in answer for answer in answers)


def test_the_token_is_the_signed_in_users_and_works_with_solder(
    server: Server, api: httpx2.Client, acme: httpx2.Client
) -> None:
    token = ok(acme.get("/api/token"))["token"]
    user = ok(api.get("/users/acme-demo"))  # created in Solder on first use
    as_user = httpx2.Client(
        base_url=server.url + "/2023-12", headers={"x-alloy-user-token": token}, timeout=10
    )
    with as_user:
        listed = ok(as_user.get("/integrations", params={"userId": user["userId"]}))["data"]
        assert [i["app"] for i in listed] == ["BigCommerce"]
        other = ok(api.post("/users", json={"username": "someone-else"}))["userId"]
        assert as_user.get("/integrations", params={"userId": other}).status_code == 404


def test_installed_state_and_versions_follow_what_the_user_installed(
    server: Server, api: httpx2.Client, acme: httpx2.Client, tmp_path: Path
) -> None:
    before = shown(acme)
    assert before["installed"] is False
    assert [w["installed"] for w in before["workflows"]] == [False, False]

    user_id = ok(api.get("/users/acme-demo"))["userId"]
    credential = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH,
                                                  "accessToken": STORE_TOKEN}}  # fmt: skip
    install_headless(api, user_id, before["integrationId"], [credential],
                     lambda _block, _field: "https://acme.example/orders")  # fmt: skip
    after = shown(acme)
    assert after["installed"] is True
    assert after["updateAvailable"] is False
    versions = [(w["installed"], w["active"], w["version"], w["installedVersion"])
                for w in after["workflows"]]  # fmt: skip
    assert versions == [(True, True, 1, 1), (True, True, 1, 1)]

    # the ISV releases a new version of one workflow: the page offers the update
    changed = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES, changed)
    definition = changed / "bigcommerce.yaml"
    definition.write_text(definition.read_text().replace("name: Stream Data", "name: Send it"))
    root = str(api.base_url).rsplit("/2023-12", 1)[0]
    with httpx2.Client(base_url=root, headers=api.headers) as manage:
        push(manage, changed, release=True)
    newer = shown(acme)
    assert newer["updateAvailable"] is True
    assert sorted((w["version"], w["installedVersion"]) for w in newer["workflows"]) == [
        (1, 1),
        (2, 1),
    ]


@pytest.mark.browser
def test_the_page_installs_through_the_modal_and_shows_it_installed(
    server: Server, acme_url: str
) -> None:
    """AcmeCo's page in Chromium: Install opens Solder's modal from the SDK the page loaded;
    the user connects the store and answers the field; the page then shows it installed."""
    for browser in launch():
        context = browser.new_context(viewport={"width": 900, "height": 760})  # type: ignore[attr-defined]
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto(acme_url)
        card = page.locator("li.integration")
        card.get_by_text("Not installed").wait_for()
        card.get_by_role("button", name="Install").click()
        modal = page.frame_locator("iframe.solder-frame")
        modal.get_by_label("Store hash").fill(STORE_HASH)
        modal.get_by_label("Access token").fill(STORE_TOKEN)
        modal.get_by_role("button", name="Connect BigCommerce").click()
        modal.get_by_role("button", name="Continue").click()
        modal.get_by_label("Where to send new orders (your server's URL)").fill(
            "https://acme.example/orders"
        )
        modal.get_by_role("button", name="Install").click()
        page.get_by_role("status").get_by_text("Install done.").wait_for()
        card.get_by_text("Installed: ").wait_for()
        assert card.get_by_role("button", name="Edit").is_visible()
        shot(page.locator("main"), "acme-integrations")
        context.close()
