"""A migrated store of the backend under test, for the store's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from solder.store import migrate
from solder.store.db import make_engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url, pool_size=8)
    migrate.upgrade(built)
    yield built
    built.dispose()
