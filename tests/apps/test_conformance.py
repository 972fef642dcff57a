"""The conformance suite: every built-in app, against its sandbox over real sockets.

For each app: its declaration has no problem and its samples fit its output models; every
action runs against the sandbox and its output fits; the credential test accepts a good
credential and refuses a bad one; every dropdown loads; and the app's answers map to the
error kinds the engine acts on: 401 -> ReconnectNeeded, 429 (with Retry-After) and 5xx ->
RetryableError, another 4xx -> FatalError. A new app fails here until it has a kit
(``tests/apps/kits.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from solder.apps.base import App, AppContext
from solder.apps.registry import APPS, BUILT_IN
from solder.apps.sdk import Option
from solder.errors import FatalError, ReconnectNeeded, RetryableError
from tests.apps.kits import KITS, Sandbox

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
