"""The generic OAuth2 test provider (``solder sandbox oauth2``) as an app.

It exists for the install modal's tests, the demo and anyone trying OAuth2 connections
without a real provider: the authorization code grant with PKCE, expiring access tokens and
refresh tokens. A server offers it only when its OAuth client is configured
(``SOLDER_OAUTH_CLIENTS='{"oauth2_sandbox": {"client_id": ..., "client_secret": ...,
"authorize_url": ..., "token_url": ...}}'`` and ``SOLDER_APP_BASE_URLS`` for the API).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from solder.apps.base import AppContext
from solder.apps.http import json_body, send
from solder.apps.sdk import Connector, OAuth2, Option
from solder.errors import FatalError, ReconnectNeeded


def _headers(ctx: AppContext) -> dict[str, str]:
    token = ctx.credential.get("accessToken")
    if not token:
        raise ReconnectNeeded("oauth2_sandbox credential has no access token")
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


connector = Connector(
    key="oauth2_sandbox",
    title="OAuth2 sandbox",
    icon="/static/icons/block.svg",
    version="1.0.0",
    description="Solder's local OAuth2 provider, for tests and demos.",
    auth=OAuth2(
        authorize_url="http://127.0.0.1:9005/authorize",
        token_url="http://127.0.0.1:9005/token",  # noqa: S106 - a URL
        scopes=("profile", "items:read"),
    ),
    provider={"base_url": "http://127.0.0.1:9005", "pagination": {"kind": "none"}},
    auth_headers=_headers,
    api_root=lambda ctx: f"{ctx.base_url.rstrip('/')}/api",
)


@connector.credential_test
def _me(ctx: AppContext) -> None:
    send(ctx.client, "GET", f"{ctx.base_url.rstrip('/')}/api/me", "oauth2_sandbox check",
         headers=_headers(ctx))  # fmt: skip


def _items(ctx: AppContext) -> list[dict[str, object]]:
    what = "oauth2_sandbox list items"
    resp = send(ctx.client, "GET", f"{ctx.base_url.rstrip('/')}/api/items", what,
                headers=_headers(ctx))  # fmt: skip
    body = json_body(resp, what)
    rows = body.get("items", body.get("data", body)) if isinstance(body, dict) else body
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


@connector.options("items")
def _item_options(ctx: AppContext) -> list[Option]:
    return [Option(value=str(i["id"]), label=str(i.get("name", i["id"]))) for i in _items(ctx)]


class PickItem(BaseModel):
    item: str = Field(json_schema_extra={"options": "items"})


class Item(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    name: str


@connector.action("get_item", title="Get an item", idempotent=True,
                  sample={"id": 1, "name": "anvil"})  # fmt: skip
def _get_item(ctx: AppContext, inp: PickItem) -> Item:
    for row in _items(ctx):
        if str(row.get("id")) == inp.item:
            return Item.model_validate(row)
    raise FatalError(f"item: {inp.item!r} is not visible to this account", field="item")
