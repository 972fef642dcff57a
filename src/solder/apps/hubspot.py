"""HubSpot: CRM v3 contacts and deals over OAuth 2.0; new contacts found by polling.

HubSpot's OAuth takes no PKCE and wants the client id and secret in the token request's
form; access tokens last 30 minutes and come with a refresh token that stays valid, so
Solder refreshes ahead of expiry (``solder.apps.oauth``). An expired token is answered 401
``EXPIRED_AUTHENTICATION``, which ``solder.apps.http`` maps to ``ReconnectNeeded`` (an
action then gets one refresh and one more try).

HubSpot has no idempotency key. A contact's email is unique, so ``create_contact`` updates
the contact that already has the email instead of failing (a repeat is harmless); a deal has
no unique property, so ``create_deal`` is not idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from solder.apps.base import AppContext, PollingTrigger
from solder.apps.http import json_body, send
from solder.apps.sdk import Connector, OAuth2
from solder.errors import FatalError, ReconnectNeeded

CONTACT_PROPERTIES = ("email", "firstname", "lastname", "phone", "company", "createdate")
PAGE = 100
"""Records per search page (HubSpot allows up to 200)."""
PAGES_PER_POLL = 10
"""A poll reads at most this many pages; the next one carries on from its cursor."""


def _headers(ctx: AppContext) -> dict[str, str]:
    token = ctx.credential.get("accessToken")
    if not token:
        raise ReconnectNeeded("hubspot credential has no access token")
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def _url(ctx: AppContext, path: str) -> str:
    return f"{ctx.base_url.rstrip('/')}{path}"


def _call(ctx: AppContext, method: str, path: str, what: str, **kwargs: Any) -> Any:
    resp = send(ctx.client, method, _url(ctx, path), what, headers=_headers(ctx), **kwargs)
    return json_body(resp, what)


connector = Connector(
    key="hubspot",
    categories=("crm",),
    title="HubSpot",
    icon="/static/icons/block.svg",
    version="1.0.0",
    description="Contacts and deals of a HubSpot account; new contacts as a trigger.",
    auth=OAuth2(
        authorize_url="https://app.hubspot.com/oauth/authorize",
        token_url="https://api.hubapi.com/oauth/v1/token",  # noqa: S106 - a URL
        scopes=(
            "oauth",
            "crm.objects.contacts.read",
            "crm.objects.contacts.write",
            "crm.objects.deals.read",
            "crm.objects.deals.write",
        ),
        pkce=False,
        client_auth="form",
        refused_grant_errors=("invalid_grant", "BAD_REFRESH_TOKEN"),
    ),
    provider={
        "base_url": "https://api.hubapi.com",
        "docs_url": "https://developers.hubspot.com/docs/api/crm/understanding-the-crm",
        "pagination": {
            "kind": "cursor",
            "cursor_param": "after",
            "cursor_path": "paging.next.after",
            "limit_param": "limit",
            "max_limit": 100,
        },
        "rate_limit": {
            "per_second": 10,
            "remaining_header": "X-HubSpot-RateLimit-Remaining",
            # the rolling window's length: a conservative wait when the window is spent
            "reset_header": "X-HubSpot-RateLimit-Interval-Milliseconds",
            "reset_unit": "ms",
            "retry_after_header": "Retry-After",
        },
    },
    auth_headers=_headers,
    api_root=lambda ctx: f"{ctx.base_url.rstrip('/')}/crm",
)


@connector.credential_test
def _check_credential(ctx: AppContext) -> None:
    """One contact: the cheapest call the contacts scope allows."""
    _call(ctx, "GET", "/crm/v3/objects/contacts", "hubspot check credential", params={"limit": 1})


# ---- records ---------------------------------------------------------------------------------


class CrmObject(BaseModel):
    """A CRM object as HubSpot answers it: every property value is a string (or null)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str
    properties: dict[str, str | None]
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    archived: bool = False


def _sample(**props: str) -> dict[str, Any]:
    return {"id": "151", "properties": {"hs_object_id": "151", **props},
            "createdAt": "2026-05-01T09:30:00.000Z", "updatedAt": "2026-05-01T09:30:00.000Z",
            "archived": False}  # fmt: skip


CONTACT_SAMPLE = _sample(email="ada@example.com", firstname="Ada", lastname="Lovelace",
                         createdate="2026-05-01T09:30:00.000Z")  # fmt: skip


class _In(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class ContactFields(_In):
    firstname: str | None = None
    lastname: str | None = None
    phone: str | None = None
    company: str | None = None
    website: str | None = None
    jobtitle: str | None = None
    lifecyclestage: str | None = None
    properties: dict[str, str] = Field(
        default_factory=dict, description="any other contact property, by its internal name"
    )

    def values(self) -> dict[str, str]:
        named = self.model_dump(exclude={"properties", "contact", "by"}, exclude_none=True)
        return {**self.properties, **named}


class NewContact(ContactFields):
    email: str


class ContactChange(ContactFields):
    contact: str = Field(description="the contact's id, or its email with by=email")
    by: Literal["id", "email"] = "id"
    email: str | None = None


_EXISTING = re.compile(r"Existing ID: (\d+)")


@connector.action(
    "create_contact",
    title="Create or update a contact",
    idempotent=True,
    sample=CONTACT_SAMPLE,
    description="Creates the contact; one that already has the email is updated instead.",
)
def _create_contact(ctx: AppContext, inp: NewContact) -> CrmObject:
    props = {**inp.values(), "email": inp.email}
    body = {"properties": props}
    try:
        made = _call(ctx, "POST", "/crm/v3/objects/contacts", "hubspot create contact", json=body)
    except FatalError as exc:  # 409: one contact per email (a repeat, or it existed before)
        existing = _EXISTING.search(str(exc))
        if "HTTP 409" not in str(exc) or existing is None:
            raise
        path = f"/crm/v3/objects/contacts/{existing.group(1)}"
        made = _call(ctx, "PATCH", path, "hubspot update contact", json=body)
    return CrmObject.model_validate(made)


@connector.action("update_contact", title="Update a contact", idempotent=True,
                  sample=CONTACT_SAMPLE)  # fmt: skip
def _update_contact(ctx: AppContext, inp: ContactChange) -> CrmObject:
    props = inp.values() | ({"email": inp.email} if inp.email else {})
    if not props:
        raise FatalError("properties: nothing to change", field="properties")
    params = {"idProperty": "email"} if inp.by == "email" else None
    return CrmObject.model_validate(
        _call(
            ctx,
            "PATCH",
            f"/crm/v3/objects/contacts/{inp.contact}",
            "hubspot update contact",
            params=params,
            json={"properties": props},
        )
    )


class NewDeal(_In):
    dealname: str
    amount: float | None = Field(default=None, ge=0)
    pipeline: str | None = Field(default=None, description="the pipeline's id ('default')")
    dealstage: str | None = Field(default=None, description="a stage id of that pipeline")
    closedate: str | None = Field(default=None, description="ISO 8601 or epoch milliseconds")
    hubspot_owner_id: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)


@connector.action(
    "create_deal",
    title="Create a deal",
    idempotent=False,
    sample=_sample(
        dealname="Renewal", amount="1200", pipeline="default", dealstage="appointmentscheduled"
    ),
    description="HubSpot has no idempotency key for deals: a repeated run makes a second deal.",
)
def _create_deal(ctx: AppContext, inp: NewDeal) -> CrmObject:
    named = inp.model_dump(exclude={"properties"}, exclude_none=True)
    props = {**inp.properties, **{k: _text(v) for k, v in named.items()}}
    return CrmObject.model_validate(
        _call(
            ctx, "POST", "/crm/v3/objects/deals", "hubspot create deal", json={"properties": props}
        )
    )


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---- the polling trigger ---------------------------------------------------------------------


def _search(ctx: AppContext, body: dict[str, Any]) -> dict[str, Any]:
    found = _call(ctx, "POST", "/crm/v3/objects/contacts/search", "hubspot search contacts",
                  json=body)  # fmt: skip
    if not isinstance(found, dict):
        raise FatalError("hubspot search contacts: unexpected response")
    return found


def _created_ms(record: Mapping[str, Any]) -> int:
    raw = str((record.get("properties") or {}).get("createdate") or record.get("createdAt"))
    if raw.isdigit():
        return int(raw)
    return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)


def _poll_new_contacts(ctx: AppContext, cursor: Any) -> tuple[list[dict[str, Any]], Any]:
    """Contacts created since the cursor, oldest first.

    The cursor is the newest ``createdate`` seen (epoch ms) and the ids seen at that very
    millisecond: the search asks ``createdate GTE since`` so a contact made in the same
    millisecond as the last one seen is not lost, and the ids already seen are left out. The
    first poll finds the newest contact and returns nothing.
    """
    newest_first = {"propertyName": "createdate", "direction": "DESCENDING"}
    if cursor is None:
        found = _search(ctx, {"sorts": [newest_first], "limit": 1, "properties": ["createdate"]})
        rows = found.get("results", [])
        since = _created_ms(rows[0]) if rows else 0
        return [], {"since": since, "seenAtSince": [str(r["id"]) for r in rows]}
    since = int(cursor.get("since", 0))
    seen = set(cursor.get("seenAtSince", []))
    body: dict[str, Any] = {
        "filterGroups": [
            {"filters": [{"propertyName": "createdate", "operator": "GTE", "value": str(since)}]}
        ],
        "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
        "properties": list(CONTACT_PROPERTIES),
        "limit": PAGE,
    }
    records: list[dict[str, Any]] = []
    for _ in range(PAGES_PER_POLL):
        found = _search(ctx, body)
        records += [r for r in found.get("results", []) if str(r["id"]) not in seen]
        after = (found.get("paging") or {}).get("next", {}).get("after")
        if not after:
            break
        body["after"] = after
    if not records:
        return [], cursor
    last = max(_created_ms(r) for r in records)
    at_last = {str(r["id"]) for r in records if _created_ms(r) == last}
    if last == since:
        at_last |= seen
    return records, {"since": last, "seenAtSince": sorted(at_last)}


new_contact = PollingTrigger(
    key="new_contact",
    name="New contact",
    interval=60.0,
    poll=_poll_new_contacts,
    record_id=lambda contact: str(contact["id"]),
)
connector.trigger(new_contact)
