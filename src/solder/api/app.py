"""Builds the ASGI application: routes, error handling, versions, and the workers' lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles

from solder import __version__
from solder.api import (
    builder,
    console,
    errors,
    executions,
    headless,
    hooks,
    install_manager,
    links,
    manage,
    metadata,
    oauth,
    ops,
    passthrough,
    running,
    sessions,
    slack_events,
    trials,
    users,
    workflows,
)
from solder.api.hotpath import Api
from solder.api.limits import BodyLimit
from solder.api.versioning import VersionPrefix
from solder.dashboard import pages as dashboard
from solder.engine.worker import WorkerPool
from solder.runtime.services import Services
from solder.security import signing
from solder.web import pages


def create_app(services: Services, *, workers: bool = True) -> Api:
    pool = WorkerPool(services) if workers else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if pool is not None:
            pool.start()
        try:
            yield
        finally:
            if pool is not None:
                pool.stop()

    app = Api(
        title="Solder",
        version=__version__,
        description="Embedded integration platform. Wire-compatible with Alloy Embedded: every "
        "path is also served under /2023-01, /2023-06, /2023-12 and /2024-03, or with the "
        "x-api-version header. Authenticate with 'Authorization: Bearer <API key>'.",
        lifespan=lifespan,
    )
    app.state.services = services
    ops.install(app, pool)
    errors.install(app)
    # slack_events' fixed /hooks/slack/events before hooks' /hooks/{app_key}/{install_id}
    app.include_router(slack_events.router)
    routers = (users, workflows, headless, running, manage, builder, console, install_manager,
               hooks, executions, metadata, oauth, links, sessions, trials)  # fmt: skip
    for module in (*routers, passthrough, pages, dashboard):
        app.include_router(module.router)

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/signing-key", tags=["meta"], response_class=PlainTextResponse)
    def signing_key() -> str:
        """The PEM public key that verifies ``X-Alloy-Signature`` on outbound requests."""
        return signing.public_key_pem(services.signing_key).decode()

    static = Path(__file__).parent / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")
    app.add_middleware(VersionPrefix)
    # The frontend SDK calls from the ISV's pages with the user token. Credentials (cookies)
    # are not allowed cross-origin and Authorization is not an allowed header, so a browser
    # can never send an API key here; nor x-solder-dashboard, which the dashboard's session
    # cookie needs (same origin only, SameSite=Strict; ADR 0013).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "PUT", "POST", "DELETE"],
        allow_headers=["x-alloy-user-token", "content-type", "x-api-version", "accept"],
        max_age=600,
    )
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_body_bytes)
    app.hot = {"/run/event": running.run_event}
    app.max_body_bytes = services.settings.max_body_bytes
    return app
