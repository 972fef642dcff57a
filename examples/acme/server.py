"""AcmeCo: a fictional ISV's web app, to show how a product embeds Solder.

The backend holds the Solder API key and never lets it reach the browser. It keeps one
signed-in end user (``--user``, created in Solder on first use) and serves:

    GET /                   the integrations page (``page.html``), which loads Solder's frontend
                            SDK from the Solder server and drives the install modal with it
    GET /api/token          a fresh one-hour user token for the SDK: ``{"token"}``
    GET /api/integrations   the integrations as Solder lists them for this user, reduced to
                            what the page shows (installed state, version, installed version)

Run it beside a Solder server (``make demo`` prints the command)::

    SOLDER_API_KEY=<key> .venv/bin/python examples/acme/server.py \
        --solder-url http://127.0.0.1:8000 --port 8010
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator
from html import escape
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from solder.client import NotFound, Solder

PAGE = Path(__file__).with_name("page.html")


class Acme:
    """The backend's side: one Solder client with the API key, and the signed-in user."""

    def __init__(self, solder_url: str, api_key: str, username: str) -> None:
        self.solder_url = solder_url.rstrip("/")
        self.solder = Solder(self.solder_url, api_key)
        self.username = username
        self._user_id: str | None = None
        self._lock = threading.Lock()

    @property
    def user_id(self) -> str:
        """The signed-in user's Solder id; the user is created in Solder the first time."""
        with self._lock:
            if self._user_id is None:
                try:
                    self._user_id = self.solder.get_user(self.username).user_id
                except NotFound:
                    self._user_id = self.solder.create_user(self.username, "Acme Demo User")
            return self._user_id

    def integrations(self) -> list[dict[str, Any]]:
        shown = []
        for integration in self.solder.list_integrations(self.user_id):
            workflows = [
                {"workflowId": w.workflow_id, "name": w.name, "installed": w.installed,
                 "active": w.active, "version": w.version, "installedVersion": w.installed_version}
                for w in integration.workflows
            ]  # fmt: skip
            # the quick start's rule: prompt for an update when version > installedVersion
            outdated = any(
                w.installed and (w.version or 0) > (w.installed_version or 0)
                for w in integration.workflows
            )
            shown.append(
                {"integrationId": integration.integration_id, "app": integration.app,
                 "icon": integration.icon, "installed": integration.installed,
                 "updateAvailable": outdated, "workflows": workflows}
            )  # fmt: skip
        return shown


def create_app(solder_url: str, api_key: str, username: str = "acme-demo") -> Starlette:
    acme = Acme(solder_url, api_key, username)

    async def page(request: Request) -> Response:
        # the page learns the Solder server's public URL, nothing else of the backend's
        config = json.dumps({"solderUrl": acme.solder_url}).replace("<", "\\u003c")
        html = PAGE.read_text().replace("{{SOLDER_URL}}", escape(acme.solder_url, quote=True))
        return HTMLResponse(html.replace("{{CONFIG}}", config))

    def token(request: Request) -> Response:
        return JSONResponse({"token": acme.solder.user_token(acme.user_id)})

    def integrations(request: Request) -> Response:
        return JSONResponse({"data": acme.integrations()})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            acme.solder.close()

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/token", token),
            Route("/api/integrations", integrations),
        ],
        lifespan=lifespan,
    )
    app.state.acme = acme
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--solder-url", default=os.environ.get("SOLDER_URL", ""))
    parser.add_argument("--user", default="acme-demo", help="the signed-in end user's username")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    args = parser.parse_args()
    key = os.environ.get("SOLDER_API_KEY", "")
    if not args.solder_url or not key:
        parser.error("set --solder-url (or SOLDER_URL) and SOLDER_API_KEY")
    uvicorn.run(create_app(args.solder_url, key, args.user), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
