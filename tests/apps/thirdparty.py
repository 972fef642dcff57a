"""An app as another package would ship it: values only, declared with the SDK."""

from __future__ import annotations

from pydantic import BaseModel

from solder.apps.base import AppContext
from solder.apps.sdk import BasicAuth, Connector

connector = Connector(
    key="acme_crm",
    title="Acme CRM",
    icon="https://acme.example/icon.svg",
    version="0.3.1",
    auth=BasicAuth(),
    provider={"base_url": "https://crm.acme.example", "pagination": {"kind": "offset"}},
)


class Ping(BaseModel):
    text: str


class Pong(BaseModel):
    echoed: str


@connector.action("echo", title="Echo", idempotent=True, sample={"echoed": "hi"})
def echo(ctx: AppContext, inp: Ping) -> Pong:
    return Pong(echoed=inp.text)
