"""The things a Solder process builds once at start and hands to the API and the workers."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

import httpx2
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Engine

from solder.apps import http as app_http
from solder.apps.base import App, AppContext
from solder.apps.registry import APPS, SANDBOX_ONLY
from solder.config import Settings
from solder.engine.heartbeat import Heartbeat
from solder.runtime.dispatch import Dispatcher, LocalDispatcher
from solder.runtime.metrics import Metrics
from solder.security import egress, signing
from solder.security.crypto import KeyRing
from solder.store import accounts, migrate
from solder.store.batch import GroupCommit
from solder.store.db import is_sqlite, make_engine, reader


@dataclass
class Services:
    settings: Settings
    engine: Engine
    ring: KeyRing
    token_secret: bytes
    signing_key: rsa.RSAPrivateKey
    http: httpx2.Client
    """For URLs of the server's own settings (apps' API roots)."""
    egress: egress.GuardedClient
    """For URLs a workflow, an end user or a mapping names: refuses internal addresses."""
    public_url: str
    apps: dict[str, App] = field(default_factory=lambda: dict(APPS))
    wakeup: threading.Event = field(default_factory=threading.Event)
    metrics: Metrics = field(default_factory=Metrics)
    dispatch: Dispatcher = field(init=False)
    commits: GroupCommit = field(init=False)
    """Accepted events and the engine's step results: many callers' writes share a commit."""
    heartbeat: Heartbeat = field(init=False)
    """Renews the leases of runs whose step is still working."""

    def __post_init__(self) -> None:
        self.dispatch = LocalDispatcher(self.wakeup)
        self.commits = GroupCommit(self.engine)
        self.heartbeat = Heartbeat(self.engine)

    @functools.cached_property
    def reader(self) -> Engine:
        """The engine for read-only work (no write lock on SQLite)."""
        return reader(self.engine)

    @property
    def embedded(self) -> bool:
        return is_sqlite(self.engine)

    def app_context(self, app: App, credential: dict[str, object]) -> AppContext:
        base = self.settings.app_base_urls.get(app.key, app.base_url)
        return AppContext(
            credential=credential, client=self.http, base_url=base, public_url=self.public_url
        )

    def close(self) -> None:
        self.commits.close()
        self.dispatch.close()
        self.http.close()
        self.egress.close()
        self.engine.dispose()


def key_ring(settings: Settings) -> KeyRing:
    if settings.secret_key is not None:
        return KeyRing.parse(settings.secret_key.get_secret_value())
    return KeyRing.from_file(settings.key_file)


def build(settings: Settings, *, public_url: str | None = None, upgrade: bool = True) -> Services:
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
    if upgrade:
        migrate.upgrade(engine)
    ring = key_ring(settings)
    with engine.begin() as conn:
        pem = accounts.get_or_create_secret(
            conn,
            ring,
            "signing-key",
            lambda: signing.private_key_to_pem(signing.generate_private_key()),
        )
    return Services(
        settings=settings,
        engine=engine,
        ring=ring,
        token_secret=ring.derive("user-token"),
        signing_key=signing.load_private_key(pem),
        http=httpx2.Client(
            timeout=settings.engine.http_timeout,
            follow_redirects=False,
            event_hooks={"response": [app_http.observe]},
        ),
        egress=egress.guarded_client(
            egress.EgressPolicy.from_settings(settings.egress),
            timeout=settings.engine.http_timeout,
        ),
        public_url=(settings.public_url or public_url or "http://127.0.0.1:8000").rstrip("/"),
        apps={
            key: app
            for key, app in APPS.items()
            if key not in SANDBOX_ONLY or key in settings.oauth_clients
        },
    )
