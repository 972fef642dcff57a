"""The connector SDK: declare an app once, as values and decorated functions.

::

    shop = Connector(
        key="shop", title="Shop", icon="/static/icons/shop.svg", version="1.2.0",
        auth=ApiKeyAuth(fields=(CredentialField("apiKey", "API key", secret=True),)),
        provider={"base_url": "https://api.shop.example", "rate_limit": {"per_second": 5}},
    )

    @shop.action("create_order", title="Create an order", idempotent=False,
                 sample={"id": 1, "status": "open"})
    def create_order(ctx: AppContext, inp: NewOrder) -> Order: ...

    @shop.options("warehouses")            # a dropdown filled with the user's own credential
    def warehouses(ctx: AppContext) -> list[Option]: ...

    app = shop.build()                     # the App value the engine runs

Nothing runs at import but building values. ``build()`` checks the whole declaration (keys,
the typed signatures of actions, sample data against output models, the provider facts
against ``PROVIDER_SCHEMA``, dropdowns naming a declared options loader, the auth facts) and
raises one :class:`DeclarationError` listing every problem, each naming the app and field.
``registry.load_apps`` builds every app, Solder's and those other packages declare under the
``solder.apps`` entry point group, and reports the problems of all of them at once.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ValidationError

from solder.apps.base import (
    Action,
    App,
    AppContext,
    CredentialField,
    PollingTrigger,
    WebhookTrigger,
)
from solder.apps.fields import fill_url, placeholders

TOKEN_KEYS = frozenset({"accessToken", "tokenType", "scope", "expiresAt", "refreshToken"})
"""What ``solder.apps.oauth`` stores of every token answer."""
KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")

PROVIDER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["base_url"],
    "properties": {
        "base_url": {"type": "string", "pattern": "^https?://[^/\\s]+"},
        "docs_url": {"type": "string", "pattern": "^https?://"},
        "pagination": {
            "type": "object",
            "additionalProperties": False,
            "required": ["kind"],
            "properties": {
                "kind": {"enum": ["page", "cursor", "link_header", "offset", "none"]},
                "page_param": {"type": "string"},
                "cursor_param": {"type": "string"},
                "cursor_path": {"type": "string"},
                "limit_param": {"type": "string"},
                "max_limit": {"type": "integer", "minimum": 1},
            },
        },
        "rate_limit": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "per_second": {"type": "number", "exclusiveMinimum": 0},
                "burst": {"type": "integer", "minimum": 1},
                "remaining_header": {"type": "string"},
                "reset_header": {"type": "string"},
                "reset_unit": {"enum": ["s", "ms", "epoch"]},
                "remaining_format": {"enum": ["count", "used/size"]},
                "retry_after_header": {"type": "string"},
            },
        },
        "webhook_signature": {
            "type": "object",
            "additionalProperties": False,
            "required": ["header", "algorithm"],
            "properties": {
                "header": {"type": "string"},
                "algorithm": {"enum": ["hmac-sha256-base64", "hmac-sha256-hex", "custom"]},
            },
        },
    },
}
_PROVIDER = jsonschema.Draft202012Validator(PROVIDER_SCHEMA)


class DeclarationError(Exception):
    """Every problem found in one or more app declarations, each naming its app and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in app declarations:\n"
            + "\n".join(f"- {p}" for p in problems)
        )


# ---- auth kinds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKeyAuth:
    """Fields the user types (an API key, a store hash...), kept encrypted as given."""

    fields: tuple[CredentialField, ...]
    kind: Literal["api_key"] = "api_key"


@dataclass(frozen=True)
class BasicAuth:
    """A user name and a password, sent as HTTP basic auth."""

    username_label: str = "User name"
    password_label: str = "Password"  # noqa: S105 - a form label
    kind: Literal["basic"] = "basic"

    @property
    def fields(self) -> tuple[CredentialField, ...]:
        return (
            CredentialField("username", self.username_label),
            CredentialField("password", self.password_label, secret=True),
        )


@dataclass(frozen=True)
class OAuth2:
    """OAuth 2.0: the authorization code grant (with PKCE unless the provider refuses it) or
    the client credentials grant. The ISV's client id and secret come from server settings."""

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...] = ()
    grant: Literal["authorization_code", "client_credentials"] = "authorization_code"
    pkce: bool = True
    scope_separator: str = " "
    client_auth: Literal["basic", "form"] = "basic"
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)
    refreshes: bool = True
    """Whether access tokens expire and come with a refresh token."""
    refused_grant_errors: tuple[str, ...] = ("invalid_grant",)
    """Token-endpoint error codes (``error``, or ``status`` as HubSpot puts it) that mean the
    grant is gone and the user must connect again."""
    keep: Mapping[str, str] = field(default_factory=dict)
    """Facts of the token answer kept in the credential, by dotted path: ``{"teamId":
    "team.id"}`` stores Slack's workspace id next to the tokens."""
    fields: tuple[CredentialField, ...] = ()
    """What the user gives before the consent page, when the provider's URLs depend on it
    (Shopify's shop domain): each fills the ``{name}`` placeholders of ``authorize_url`` and
    ``token_url`` (and of the ISV's overrides), once it fully matches the field's ``pattern``;
    it is kept in the credential. Most providers need none: the tokens come from them."""
    verify_callback: Callable[[Mapping[str, str], str, Mapping[str, str]], None] | None = None
    """Checks the provider's callback query before the code is traded (Shopify signs it with
    the client secret), given the query, the client secret and the values of ``fields``;
    raises ``BadInput`` naming the parameter that is wrong."""
    kind: Literal["oauth2"] = "oauth2"


Auth = ApiKeyAuth | BasicAuth | OAuth2


@dataclass(frozen=True)
class Option:
    """One entry of a dropdown: the value stored and the label shown."""

    value: str
    label: str


# ---- the declaration -------------------------------------------------------------------------


@dataclass
class _ActionDecl:
    key: str
    title: str
    fn: Callable[..., Any]
    idempotent: bool
    sample: Any
    description: str


@dataclass
class Connector:
    """One app being declared; ``build()`` turns it into the checked :class:`App` value."""

    key: str
    title: str
    icon: str
    version: str
    auth: Auth
    provider: Mapping[str, Any]
    description: str = ""
    api_root: Callable[[AppContext], str] | None = None
    auth_headers: Callable[[AppContext], dict[str, str]] | None = None
    categories: tuple[str, ...] = ()
    """What kind of app it is (``ecommerce``, ``crm``): ``authenticate({category})`` offers
    the apps of a category to choose from."""
    _actions: list[_ActionDecl] = field(default_factory=list)
    _triggers: list[WebhookTrigger | PollingTrigger] = field(default_factory=list)
    _options: dict[str, Callable[[AppContext], list[Option]]] = field(default_factory=dict)
    _credential_test: Callable[[AppContext], None] | None = None

    def action(
        self,
        key: str,
        *,
        title: str,
        idempotent: bool,
        sample: Any,
        description: str = "",
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare ``fn(ctx, inp: InputModel) -> OutputModel`` as the action ``key``.

        ``idempotent``: running it twice with the same input has the effect of running it
        once (the engine may repeat an action after a crash). ``sample``: an output, checked
        against the output model, shown in the builder before any run.
        """

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._actions.append(_ActionDecl(key, title, fn, idempotent, sample, description))
            return fn

        return register

    def trigger(self, trigger: WebhookTrigger | PollingTrigger) -> None:
        self._triggers.append(trigger)

    def options(
        self, name: str
    ) -> Callable[[Callable[[AppContext], list[Option]]], Callable[[AppContext], list[Option]]]:
        """Declare the loader of the dropdown ``name``; an input field opts in with
        ``Field(json_schema_extra={"options": name})``."""

        def register(fn: Callable[[AppContext], list[Option]]) -> Callable[..., Any]:
            self._options[name] = fn
            return fn

        return register

    def credential_test(self, fn: Callable[[AppContext], None]) -> Callable[[AppContext], None]:
        """A cheap call that raises ``ReconnectNeeded`` when the app refuses the credential."""
        self._credential_test = fn
        return fn

    def build(self) -> App:
        problems = self.problems()
        if problems:
            raise DeclarationError(problems)
        actions = {d.key: _built_action(d) for d in self._actions}
        return App(
            key=self.key,
            name=self.title,
            icon=self.icon,
            base_url=str(self.provider["base_url"]),
            credential_fields=self.auth.fields,
            actions=actions,
            triggers={t.key: t for t in self._triggers},
            api_root=self.api_root,
            auth_headers=self.auth_headers,
            version=self.version,
            auth=self.auth,
            provider=dict(self.provider),
            options=dict(self._options),
            test_credential=self._credential_test,
            description=self.description,
            categories=tuple(self.categories),
        )

    # -- checks --------------------------------------------------------------------------------

    def problems(self) -> list[str]:
        where = self.key if isinstance(self.key, str) and self.key else "<app without key>"
        found: list[str] = []

        def bad(path: str, message: str) -> None:
            found.append(f"{where}.{path}: {message}")

        if not isinstance(self.key, str) or not KEY.match(self.key):
            bad("key", f"{self.key!r} is not a snake_case key (a-z, 0-9, _; 64 at most)")
        if not self.title or not isinstance(self.title, str):
            bad("title", "required")
        if not self.icon or not isinstance(self.icon, str):
            bad("icon", "required (a path served by Solder or an https URL)")
        if not isinstance(self.version, str) or not VERSION.match(self.version):
            bad("version", f"{self.version!r} is not MAJOR.MINOR.PATCH")
        for error in sorted(_PROVIDER.iter_errors(dict(self.provider)), key=str):
            at = ".".join(str(p) for p in error.absolute_path)
            bad(f"provider{'.' + at if at else ''}", error.message)
        found += [f"{where}.auth.{p}" for p in _auth_problems(self.auth)]
        seen: set[str] = set()
        for decl in self._actions:
            found += [f"{where}.actions.{p}" for p in _action_problems(decl, self._options)]
            if decl.key in seen:
                bad(f"actions.{decl.key}", "declared twice")
            seen.add(decl.key)
        trigger_keys: set[str] = set()
        for trigger in self._triggers:
            if not KEY.match(trigger.key):
                bad(f"triggers.{trigger.key}", "not a snake_case key")
            if trigger.key in trigger_keys:
                bad(f"triggers.{trigger.key}", "declared twice")
            trigger_keys.add(trigger.key)
        for name in self._options:
            if not KEY.match(name):
                bad(f"options.{name}", "not a snake_case name")
        if isinstance(self.categories, str):
            bad("categories", "a tuple of names, not one string")
        else:
            for name in self.categories:
                if not isinstance(name, str) or not KEY.match(name):
                    bad(f"categories.{name}", "not a snake_case name")
        return found


def _auth_problems(auth: Any) -> list[str]:
    if isinstance(auth, OAuth2):
        out = []
        for name in ("authorize_url", "token_url"):
            url = getattr(auth, name)
            if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
                out.append(f"{name}: {url!r} is not an http(s) URL")
        if auth.grant == "client_credentials" and auth.pkce:
            out.append("pkce: the client credentials grant has no authorization step")
        if not all(isinstance(s, str) and s and " " not in s for s in auth.scopes):
            out.append("scopes: each scope is a non-empty string without spaces")
        for name in set(auth.keep) & TOKEN_KEYS:
            out.append(f"keep.{name}: the tokens are stored under this name")
        out += _connect_field_problems(auth)
        return out
    if isinstance(auth, ApiKeyAuth):
        out = []
        names = [f.name for f in auth.fields]
        if not names:
            out.append("fields: an API-key app asks for at least one field")
        for name in {n for n in names if names.count(n) > 1}:
            out.append(f"fields.{name}: declared twice")
        return out
    if isinstance(auth, BasicAuth):
        return []
    return [f"{auth!r} is not ApiKeyAuth, BasicAuth or OAuth2"]


def connect_values(auth: OAuth2, given: Mapping[str, Any]) -> dict[str, str]:
    """The values of ``auth.fields`` the user gave before the consent page, each checked as
    ``fill_url`` checks it (``BadInput`` naming the field)."""
    values: dict[str, str] = {}
    for spec in auth.fields:
        fill_url(f"{{{spec.name}}}", auth.fields, given)
        values[spec.name] = str(given[spec.name]).strip()
    return values


def _connect_field_problems(auth: OAuth2) -> list[str]:
    """The URLs' placeholders name declared fields, each with a pattern that compiles."""
    out = []
    names = [f.name for f in auth.fields]
    for name in ("authorize_url", "token_url"):
        for wanted in placeholders(str(getattr(auth, name))):
            if wanted not in names:
                out.append(f"{name}: {{{wanted}}} names no field of the auth")
    for name in sorted({n for n in names if names.count(n) > 1}):
        out.append(f"fields.{name}: declared twice")
    for spec in auth.fields:
        if spec.name in TOKEN_KEYS or spec.name in auth.keep:
            out.append(f"fields.{spec.name}: the tokens or a kept fact are stored under this name")
        if spec.pattern is None:
            out.append(f"fields.{spec.name}: a pattern is required (the value fills a URL)")
            continue
        try:
            re.compile(spec.pattern)
        except re.error as exc:
            out.append(f"fields.{spec.name}.pattern: {exc}")
    return out


def _signature_models(fn: Callable[..., Any]) -> tuple[Any, Any, list[str]]:
    """The input and output models of ``fn(ctx, inp) -> out``, and what is wrong with them."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # noqa: BLE001 - an unresolvable annotation is a declaration error
        return None, None, [f"annotations cannot be resolved: {exc}"]
    params = list(inspect.signature(fn).parameters)
    problems = []
    if len(params) != 2:
        problems.append(f"takes {len(params)} parameters; an action takes (ctx, inp)")
        return None, None, problems
    inp, out = hints.get(params[1]), hints.get("return")
    if not (isinstance(inp, type) and issubclass(inp, BaseModel)):
        problems.append(f"input: {params[1]} must be annotated with a pydantic model")
        inp = None
    if not (isinstance(out, type) and issubclass(out, BaseModel)):
        problems.append("output: the return annotation must be a pydantic model")
        out = None
    return inp, out, problems


def _action_problems(decl: _ActionDecl, options: Mapping[str, Any]) -> list[str]:
    at = decl.key
    out = []
    if not KEY.match(decl.key):
        out.append(f"{at}.key: {decl.key!r} is not a snake_case key")
    if not decl.title:
        out.append(f"{at}.title: required")
    if not isinstance(decl.idempotent, bool):
        out.append(f"{at}.idempotent: say True or False")
    inp, outp, wrong = _signature_models(decl.fn)
    out += [f"{at}.{w}" for w in wrong]
    if outp is not None:
        try:
            outp.model_validate(decl.sample)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"])
                out.append(f"{at}.sample{'.' + where if where else ''}: {error['msg']}")
    if inp is not None:
        for name, info in inp.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            wanted = extra.get("options")
            if wanted is not None and wanted not in options:
                out.append(f"{at}.input.{name}: options {wanted!r} has no @options loader")
    return out


def _built_action(decl: _ActionDecl) -> Action:
    inp, outp, _ = _signature_models(decl.fn)
    assert inp is not None  # build() checked both
    assert outp is not None
    fn = decl.fn

    def run(ctx: AppContext, value: Any) -> dict[str, Any]:
        result = fn(ctx, value)
        model = result if isinstance(result, outp) else outp.model_validate(result)
        dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True)
        return dumped

    return Action(
        key=decl.key,
        name=decl.title,
        input_model=inp,
        run=run,
        idempotent=decl.idempotent,
        output_model=outp,
        sample=decl.sample,
        description=decl.description,
    )
