"""The values an app is made of: its credential fields, actions, triggers and facts.

Apps are declared with the SDK (``apps/sdk.py``), which checks a declaration and builds these
values; the engine and the API only read them. Actions and triggers receive an
:class:`AppContext` that carries the user's decrypted credential, an HTTP client and the
app's base URL (overridable per server, which is how the sandbox apps are reached).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
from pydantic import BaseModel


@dataclass(frozen=True)
class CredentialField:
    name: str
    display_name: str
    description: str = ""
    secret: bool = False
    pattern: str | None = None
    """A regular expression the whole value must match; required of a field filled into an
    OAuth URL (Shopify's shop domain), so the user cannot point Solder at another host."""
    required: bool = True
    """Whether the user must fill it in; an optional field left empty is not stored."""


@dataclass(frozen=True)
class AppContext:
    credential: Mapping[str, Any]
    client: httpx2.Client
    base_url: str
    public_url: str


@dataclass(frozen=True)
class Subscription:
    """What an app trigger needs to hear about one installed workflow."""

    install_id: str
    destination: str
    secret: str


@dataclass(frozen=True)
class Action:
    key: str
    name: str
    input_model: type[BaseModel]
    run: Callable[[AppContext, Any], dict[str, Any]]
    idempotent: bool = False
    output_model: type[BaseModel] | None = None
    sample: Any = None
    """An output, as the builder shows it before any run (checked against ``output_model``)."""
    description: str = ""


@dataclass(frozen=True)
class WebhookTrigger:
    """An app event delivered by the app's own webhooks."""

    key: str
    name: str
    subscribe: Callable[[AppContext, Subscription], dict[str, Any]]
    unsubscribe: Callable[[AppContext, Mapping[str, Any]], None]
    secret_header: str
    event_id: Callable[[Mapping[str, Any]], str | None]
    matches: Callable[[Mapping[str, Any]], bool]
    enrich: Callable[[AppContext, Mapping[str, Any]], dict[str, Any]]
    status: Callable[[AppContext, Mapping[str, Any]], str] | None = None
    """The app's view of a stored subscription: "active", "inactive" or "missing"."""
    reactivate: Callable[[AppContext, Mapping[str, Any]], None] | None = None
    hooks: Callable[[AppContext], list[tuple[str, str]]] | None = None
    """Every hook of the account as (hook id, destination), to find orphans."""
    drop: Callable[[AppContext, str], None] | None = None
    """Delete one hook by id (an orphan)."""
    verify: Callable[[Mapping[str, str], bytes, Mapping[str, Any]], bool] | None = None
    """Checks a callback itself, given its headers (lower-cased names), its raw body and the
    subscription's stored state (an app that signs each body, such as Stripe); when set it
    replaces the check of ``secret_header`` against the secret given at subscription. Secrets
    ``subscribe`` returns under the state's ``sealed`` key are stored encrypted, and reach
    only ``verify``, opened."""
    verify_app: Callable[[Mapping[str, str], bytes, str], bool] | None = None
    """Checks a callback signed with the ISV's own OAuth client secret for the app (Shopify
    signs every webhook with it, not with a secret per subscription), given its headers
    (lower-cased names), its raw body and that secret; replaces the secret header check."""
    event_id_header: str | None = None
    """The header naming each delivery, the same on the app's retries (Shopify's
    ``X-Shopify-Webhook-Id``): when set, callbacks are deduplicated by it rather than by
    ``event_id(payload)``."""
    header_matches: Callable[[Mapping[str, str]], bool] | None = None
    """Whether a callback is this trigger's event, by its headers (Shopify names the topic
    only in ``X-Shopify-Topic``); checked with ``matches``."""


@dataclass(frozen=True)
class PollingTrigger:
    """An app event found by asking the app for what is new since a stored cursor.

    ``poll(ctx, cursor)`` returns the new records, oldest first, and the cursor to keep; a
    ``None`` cursor is the first poll, which should only find where "now" is and return no
    records (installing does not replay the account's history). ``record_id`` names each
    record so one seen twice (a cursor that overlaps) runs the workflow once.
    """

    key: str
    name: str
    interval: float
    poll: Callable[[AppContext, Any], tuple[list[dict[str, Any]], Any]]
    record_id: Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class App:
    key: str
    name: str
    icon: str
    base_url: str
    credential_fields: tuple[CredentialField, ...]
    actions: Mapping[str, Action] = field(default_factory=dict)
    triggers: Mapping[str, WebhookTrigger | PollingTrigger] = field(default_factory=dict)
    api_root: Callable[[AppContext], str] | None = None
    """The URL under which the user's account lives (HTTP blocks using its credential)."""
    auth_headers: Callable[[AppContext], dict[str, str]] | None = None
    """The headers that carry the user's credential."""
    version: str = "0.0.0"
    auth: Any = None
    """The SDK's auth declaration (``sdk.ApiKeyAuth``, ``sdk.BasicAuth`` or ``sdk.OAuth2``)."""
    provider: Mapping[str, Any] = field(default_factory=dict)
    """Provider facts as data (base URL, pagination, rate limits), checked by the SDK."""
    options: Mapping[str, Callable[[AppContext], Any]] = field(default_factory=dict)
    """Dropdown loaders by name, called with the user's own credential."""
    test_credential: Callable[[AppContext], None] | None = None
    """A cheap call that raises ``ReconnectNeeded`` when the app refuses the credential."""
    description: str = ""
    categories: tuple[str, ...] = ()
    """What kind of app it is (``ecommerce``, ``crm``, ``communication``, ``payments``)."""

    @property
    def is_oauth(self) -> bool:
        return getattr(self.auth, "kind", None) == "oauth2"
