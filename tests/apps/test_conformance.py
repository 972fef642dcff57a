"""The conformance suite: every built-in app, against its sandbox over real sockets.

For each app: its declaration has no problem and its samples fit its output models; every
action runs against the sandbox and its output fits; the credential test accepts a good
credential and refuses a bad one; every dropdown loads; and the app's answers map to the
error kinds the engine acts on: 401 -> ReconnectNeeded, 429 (with Retry-After) and 5xx ->
RetryableError, another 4xx -> FatalError; and each webhook trigger, subscribed with the
sandbox, gets callbacks that the server's own check accepts, while the same callback with its
signature or secret header wrong or missing, or (for an app that signs bodies) with its body
changed, is refused; so is one under another subscription's state, or, for an app that signs
every callback with the ISV's OAuth client secret (Shopify), under another client secret.
A new app fails here until it has a kit (``tests/apps/kits.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx2
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from solder.apps.base import App, AppContext, WebhookTrigger
from solder.apps.registry import APPS, BUILT_IN
from solder.apps.sdk import Option
from solder.config import OAuthClientSettings
from solder.engine import lifecycle
from solder.errors import FatalError, ReconnectNeeded, RetryableError
from solder.runtime.services import Services
from tests.apps.kits import KITS, Sandbox
from tests.servers import run_asgi

BUILT_IN_KEYS = [c.key for c in BUILT_IN]


def test_every_built_in_app_has_a_kit() -> None:
    missing = sorted(set(BUILT_IN_KEYS) - set(KITS))
    assert missing == [], f"add a conformance kit in tests/apps/kits.py for {missing}"


@pytest.fixture(params=sorted(KITS))
def app(request: pytest.FixtureRequest) -> App:
    return APPS[request.param]


@pytest.fixture
def sandbox(app: App) -> Iterator[Sandbox]:
    with KITS[app.key].start() as started:
        yield started


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as client:
        yield client


def context(http: httpx2.Client, sandbox: Sandbox, credential: dict[str, object]) -> AppContext:
    return AppContext(credential=credential, client=http, base_url=sandbox.url, public_url="")


def test_the_declaration_is_clean_and_samples_fit(app: App) -> None:
    (connector,) = [c for c in BUILT_IN if c.key == app.key]
    assert connector.problems() == []
    for action in app.actions.values():
        assert action.output_model is not None, f"{action.key}: no output model"
        action.output_model.model_validate(action.sample)
        assert isinstance(action.idempotent, bool)


def test_every_action_runs_against_the_sandbox(
    app: App, sandbox: Sandbox, http: httpx2.Client
) -> None:
    assert set(sandbox.inputs) == set(app.actions), "the kit gives an input to every action"
    ctx = context(http, sandbox, sandbox.good)
    for key, action in app.actions.items():
        out = action.run(ctx, action.input_model.model_validate(sandbox.inputs[key]))
        assert action.output_model is not None
        action.output_model.model_validate(out)


def test_the_credential_test_accepts_a_good_credential_and_refuses_a_bad_one(
    app: App, sandbox: Sandbox, http: httpx2.Client
) -> None:
    assert app.test_credential is not None, f"{app.key} declares no credential test"
    app.test_credential(context(http, sandbox, sandbox.good))
    with pytest.raises(ReconnectNeeded):
        app.test_credential(context(http, sandbox, sandbox.bad))


def test_every_dropdown_loads_with_the_users_credential(
    app: App, sandbox: Sandbox, http: httpx2.Client
) -> None:
    for name, loader in app.options.items():
        options = loader(context(http, sandbox, sandbox.good))
        assert options, f"dropdown {name} is empty"
        assert all(isinstance(o, Option) and o.value and o.label for o in options)


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (401, {}, ReconnectNeeded, None),
        (429, {"Retry-After": "7"}, RetryableError, 7.0),
        (503, {}, RetryableError, None),
        (500, {}, RetryableError, None),
        (400, {}, FatalError, None),
    ],
)
def test_answers_map_to_the_error_kinds_the_engine_acts_on(
    app: App,
    sandbox: Sandbox,
    http: httpx2.Client,
    status: int,
    headers: dict[str, str],
    kind: type[Exception],
    retry_after: float | None,
) -> None:
    if not KITS[app.key].http:
        pytest.skip(f"{app.key} makes no HTTP calls of its own (see its kit)")
    ctx = context(http, sandbox, sandbox.good)
    calls = [
        (key, lambda a=action, k=key: a.run(ctx, a.input_model.model_validate(sandbox.inputs[k])))
        for key, action in app.actions.items()
    ]
    if app.test_credential is not None:
        calls.append(("credential test", lambda: app.test_credential(ctx)))  # type: ignore[misc]
    for name, call in calls:
        sandbox.fault(status, headers)
        with pytest.raises(kind) as info:
            call()
        if kind is FatalError:  # a FatalError subclass would be a reconnect or a retry
            assert not isinstance(info.value, ReconnectNeeded | RetryableError), name
        if retry_after is not None:
            assert getattr(info.value, "retry_after", None) == retry_after, name


APP_WIDE = {
    ("slack", "message_posted"): "Slack sends every workspace's events to one request URL, "
    "checked with the app's signing secret by api/slack_events.py (tests/api/test_slack_events.py)",
}
"""Webhook triggers whose callbacks do not come per subscription, and where they are checked."""


class Callbacks:
    """A receiver standing in for Solder's hook URL: it keeps each callback's headers and body."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()

    async def receive(self, request: Request) -> JSONResponse:
        self.got.append(({k.lower(): v for k, v in request.headers.items()}, await request.body()))
        self.arrived.set()
        return JSONResponse({"received": True})


def test_webhook_callbacks_pass_the_servers_check_and_forged_ones_do_not(
    app: App, sandbox: Sandbox, http: httpx2.Client, services: Services
) -> None:
    hooks = {k: t for k, t in app.triggers.items() if isinstance(t, WebhookTrigger)}
    hooks = {k: t for k, t in hooks.items() if (app.key, k) not in APP_WIDE}
    if not hooks:
        pytest.skip(f"{app.key} has no webhook trigger with callbacks per subscription")
    assert set(sandbox.events) == set(hooks), "the kit makes the sandbox send every event"
    if sandbox.oauth_client is not None:
        client_id, secret = sandbox.oauth_client
        services.settings.oauth_clients[app.key] = OAuthClientSettings(
            client_id=client_id, client_secret=SecretStr(secret)
        )
    ctx = context(http, sandbox, sandbox.good)
    for key, hook in hooks.items():
        callbacks = Callbacks()
        receiver = Starlette(routes=[Route("/hook", callbacks.receive, methods=["POST"])])
        with run_asgi(receiver) as url:
            state = lifecycle.register(services, hook, ctx, "kit-install", f"{url}/hook")
            sandbox.events[key]()
            assert callbacks.arrived.wait(10), f"{key}: the sandbox sent no callback"
            hook.unsubscribe(ctx, state)
            # another installation's subscription, to show its state refuses this callback
            other = lifecycle.register(services, hook, ctx, "kit-other", f"{url}/elsewhere")
            hook.unsubscribe(ctx, other)
        headers, body = callbacks.got[0]
        check_forgeries(services, app.key, key, hook, headers, body, state, other)


def check_forgeries(
    services: Services,
    app: str,
    key: str,
    hook: WebhookTrigger,
    headers: dict[str, str],
    body: bytes,
    state: dict[str, object],
    other: dict[str, object],
) -> None:
    def accepted(headers: dict[str, str], body: bytes, state: dict[str, object] = state) -> bool:
        install = "kit-install" if state is not other else "kit-other"
        return lifecycle.authentic(services, hook, headers, body, install, state, app)

    name = hook.secret_header.lower()
    assert accepted(headers, body), f"{key}: a genuine callback was refused"
    assert name in headers, f"{key}: the callback has no {hook.secret_header} header"
    assert not accepted({k: v for k, v in headers.items() if k != name}, body), key
    last = headers[name][-1]
    tampered = headers[name][:-1] + ("1" if last != "1" else "2")  # its last character
    assert not accepted({**headers, name: tampered}, body), key
    assert not accepted({**headers, name: "forged"}, body), key
    if hook.verify_app is None:
        assert not accepted(headers, body, other), f"{key}: another subscription's state took it"
    else:  # one secret signs every subscription's callbacks: the ISV's client secret
        client = services.settings.oauth_clients[app]
        services.settings.oauth_clients[app] = client.model_copy(
            update={"client_secret": SecretStr("another-client-secret")}
        )
        assert not accepted(headers, body), f"{key}: accepted under another client secret"
        services.settings.oauth_clients[app] = client
    if hook.verify is not None or hook.verify_app is not None:  # a changed body is refused
        changed = body.replace(b"}", b', "forged": true}', 1)
        assert changed != body
        assert not accepted(headers, changed), f"{key}: a changed body was accepted"
