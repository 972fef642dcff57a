"""The install modal's fixtures: the OAuth2 sandbox provider wired to the server, and "Items"."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from tests.api.test_oauth import Provider, provider  # noqa: F401 - the fixture, shared
from tests.web.itemflow import Items, push_items


@pytest.fixture
def items(api: httpx2.Client, provider: Provider, tmp_path: Path) -> Items:  # noqa: F811
    return push_items(api, tmp_path / "items")
