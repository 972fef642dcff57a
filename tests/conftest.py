"""Shared fixtures: a fresh store per test, a real Solder server on loopback, sandbox apps.

The store is SQLite by default. With ``SOLDER_TEST_DATABASE_URL`` set (``make test`` sets it
for its second pass) every test gets a fresh PostgreSQL database on that server instead.
Without a reachable server that pass fails under CI and skips elsewhere, saying what to start.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from solder.api.app import create_app
from solder.config import EgressSettings, EngineSettings, Settings
from solder.runtime import services as services_mod
from solder.runtime.services import Services
from solder.sandbox import bigcommerce, receiver
from solder.security import signing
from solder.store import accounts, migrate
from solder.store.db import make_engine, normalize_url
from tests.servers import run_asgi

STORE_HASH = "teststore"
STORE_TOKEN = "test-store-token"
POSTGRES_URL = os.environ.get("SOLDER_TEST_DATABASE_URL", "")


def _postgres_admin() -> tuple[str, object]:
    url = make_url(normalize_url(POSTGRES_URL))
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        engine.dispose()
        message = (
            f"PostgreSQL at {url.render_as_string()} is not reachable ({type(exc).__name__}); "
            "start it with: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url.render_as_string(hide_password=False), engine


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of the backend under test."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'solder.sqlite'}"
        return
    base, admin = _postgres_admin()
    name = "solder_t_" + secrets.token_hex(6)
    with admin.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:  # type: ignore[attr-defined]
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()  # type: ignore[attr-defined]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated store of the backend under test (tests/store/test_migrations.py has its own)."""
    built = make_engine(database_url, pool_size=8)
    migrate.upgrade(built)
    yield built
    built.dispose()


@pytest.fixture
def secret_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def sandbox_store() -> Iterator[tuple[str, bigcommerce.StoreState]]:
    app = bigcommerce.create_app(STORE_HASH, STORE_TOKEN, retry_backoff=0.05)
    with run_asgi(app) as url:
        yield url, app.state.store


@pytest.fixture
def settings(database_url: str, secret_key: str, sandbox_store: tuple[str, object]) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=secret_key,
        app_base_urls={"bigcommerce": sandbox_store[0]},
        egress=EgressSettings(allow_networks=["127.0.0.1/32"]),
        engine=EngineSettings(
            workers=2, poll_interval=0.05, backoff_base=0.05, backoff_max=1.0, http_timeout=5
        ),
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = services_mod.build(settings)
    yield built
    built.close()


@dataclass
class Server:
    url: str
    services: Services
    dev_key: str
    prod_key: str

    def client(self, key: str | None = None, prefix: str = "/2023-12") -> httpx2.Client:
        headers = {"Authorization": f"Bearer {key or self.dev_key}"}
        return httpx2.Client(base_url=self.url + prefix, headers=headers, timeout=10)


@pytest.fixture
def server(services: Services) -> Iterator[Server]:
    with services.engine.begin() as conn:
        dev = accounts.create_key(conn, "development")
        prod = accounts.create_key(conn, "production")
    with run_asgi(create_app(services)) as url:
        services.public_url = url
        yield Server(url=url, services=services, dev_key=dev, prod_key=prod)


@pytest.fixture
def api(server: Server) -> Iterator[httpx2.Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def receiver_url(services: Services) -> Iterator[str]:
    app = receiver.create_app(signing.public_key_pem(services.signing_key))
    with run_asgi(app) as url:
        yield url
