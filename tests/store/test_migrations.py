"""The migrations build exactly the schema ``solder.store.tables`` declares, on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, MetaData, String, inspect

from solder.store import migrate
from solder.store.db import make_engine
from solder.store.tables import metadata


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url)
    yield built
    built.dispose()


def differences(engine: Engine, target: MetaData) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff: list[Any] = compare_metadata(context, target)
    return diff


def head() -> str:
    revision = ScriptDirectory(str(migrate.MIGRATIONS)).get_current_head()
    assert revision is not None
    return revision


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_upgrade_builds_exactly_the_declared_schema(engine: Engine) -> None:
    migrate.upgrade(engine)
    assert differences(engine, metadata) == []
    assert current_revision(engine) == head()


def test_upgrade_twice_changes_nothing(engine: Engine) -> None:
    migrate.upgrade(engine)
    migrate.upgrade(engine)
    assert differences(engine, metadata) == []
    assert current_revision(engine) == head()


def test_the_comparison_notices_drift(engine: Engine) -> None:
    """Guards the test above: a table declared without a migration is reported."""
    migrate.upgrade(engine)
    drifted = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["runs"].append_column(Column("priority", String(8)))
    diff = differences(engine, drifted)
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "runs", "priority")]


def test_db_upgrade_command_on_a_fresh_database(database_url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "solder", "db", "upgrade"],
        env={**os.environ, "SOLDER_DATABASE_URL": database_url},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "database is at the newest schema" in done.stdout
    engine = make_engine(database_url)
    try:
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
        assert differences(engine, metadata) == []
        assert current_revision(engine) == head()
    finally:
        engine.dispose()
