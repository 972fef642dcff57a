"""The install modal's fixtures: the OAuth2 sandbox provider wired to the server, and "Items"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.api.test_oauth import Provider, provider  # noqa: F401 - the fixture, shared
from tests.conftest import Server
from tests.servers import run_asgi
from tests.web.browser import host_app, launch
from tests.web.itemflow import Items, push_items


@pytest.fixture
def items(api: httpx2.Client, provider: Provider, tmp_path: Path) -> Items:  # noqa: F811
    return push_items(api, tmp_path / "items")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture
def host(server: Server) -> Iterator[str]:
    """AcmeCo's page, on an origin of its own."""
    with run_asgi(host_app(server.url)) as url:
        yield url


@pytest.fixture
def page(browser: Any, host: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 900, "height": 760})
    context.set_default_timeout(30_000)  # a loaded 2-core machine
    tab = context.new_page()
    tab.goto(host)
    yield tab
    context.close()
