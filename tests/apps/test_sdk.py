"""The connector SDK: declarations are checked as a whole, built into values, and found through
entry points of other installed packages."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel, Field

from solder.apps import registry
from solder.apps.base import AppContext, CredentialField
from solder.apps.fields import fill_url
from solder.apps.sdk import ApiKeyAuth, Connector, DeclarationError, OAuth2, Option
from solder.errors import BadInput


class Note(BaseModel):
    text: str
    channel: str = Field(json_schema_extra={"options": "channels"})


class Posted(BaseModel):
    id: int
    text: str


def good() -> Connector:
    app = Connector(
        key="notes",
        title="Notes",
        icon="/static/icons/notes.svg",
        version="1.0.0",
        auth=ApiKeyAuth(fields=(CredentialField("apiKey", "API key", secret=True),)),
        provider={
            "base_url": "https://notes.example",
            "pagination": {"kind": "cursor", "cursor_param": "after"},
            "rate_limit": {"per_second": 5, "retry_after_header": "Retry-After"},
        },
    )

    @app.action("post_note", title="Post a note", idempotent=False, sample={"id": 1, "text": "x"})
    def post_note(ctx: AppContext, inp: Note) -> Posted:
        return Posted(id=7, text=f"{inp.channel}: {inp.text}")

    @app.options("channels")
    def channels(ctx: AppContext) -> list[Option]:
        return [Option("c1", "General")]

    return app


def context() -> AppContext:
    return AppContext(credential={}, client=httpx2.Client(), base_url="", public_url="")


def test_a_good_declaration_builds_an_app_the_engine_can_run() -> None:
    app = good().build()
    action = app.actions["post_note"]
    assert (action.idempotent, action.sample, action.output_model) == (
        False, {"id": 1, "text": "x"}, Posted,
    )  # fmt: skip
    assert action.input_model is Note
    out = action.run(context(), Note(text="hi", channel="c1"))
    assert out == {"id": 7, "text": "c1: hi"}
    assert app.version == "1.0.0"
    assert app.base_url == "https://notes.example"
    assert [f.name for f in app.credential_fields] == ["apiKey"]
    assert app.options["channels"](context()) == [Option("c1", "General")]
    assert not app.is_oauth


def test_an_action_returning_a_dict_is_checked_against_its_output_model() -> None:
    app = good()

    @app.action("loose", title="Loose", idempotent=True, sample={"id": 1, "text": "x"})
    def loose(ctx: AppContext, inp: Note) -> Posted:
        return {"id": "not a number", "text": "x"}  # type: ignore[return-value]

    with pytest.raises(ValueError, match="id"):
        app.build().actions["loose"].run(context(), Note(text="a", channel="b"))


def test_every_problem_is_reported_at_once_naming_app_and_field() -> None:
    app = Connector(
        key="Bad-Key",
        title="",
        icon="",
        version="1.0",
        auth=OAuth2(authorize_url="nope", token_url="https://t.example/token", scopes=("a b",)),
        provider={"base_url": "ftp://x", "pagination": {"kind": "pages"}, "colour": "red"},
        categories=("ecommerce", "Point of Sale"),
    )

    @app.action("send", title="Send", idempotent=True, sample={"id": "x"})
    def send(ctx: AppContext, inp: Note) -> Posted:
        raise AssertionError

    @app.action("untyped", title="Untyped", idempotent=False, sample={})
    def untyped(ctx, inp):  # type: ignore[no-untyped-def]
        raise AssertionError

    @app.action("send", title="Again", idempotent=True, sample={"id": 1, "text": "t"})
    def again(ctx: AppContext, inp: Posted) -> Posted:
        raise AssertionError

    with pytest.raises(DeclarationError) as info:
        app.build()
    problems = info.value.problems
    expected = [
        "Bad-Key.key: 'Bad-Key' is not a snake_case key",
        "Bad-Key.title: required",
        "Bad-Key.icon: required",
        "Bad-Key.version: '1.0' is not MAJOR.MINOR.PATCH",
        "Bad-Key.provider: Additional properties are not allowed ('colour' was unexpected)",
        "Bad-Key.provider.base_url: 'ftp://x' does not match",
        "Bad-Key.provider.pagination.kind: 'pages' is not one of",
        "Bad-Key.auth.authorize_url: 'nope' is not an http(s) URL",
        "Bad-Key.auth.scopes: each scope is a non-empty string without spaces",
        "Bad-Key.actions.send.sample.id: Input should be a valid integer",
        "Bad-Key.actions.send.sample.text: Field required",
        "Bad-Key.actions.send.input.channel: options 'channels' has no @options loader",
        "Bad-Key.actions.untyped.input: inp must be annotated with a pydantic model",
        "Bad-Key.actions.untyped.output: the return annotation must be a pydantic model",
        "Bad-Key.actions.send: declared twice",
        "Bad-Key.categories.Point of Sale: not a snake_case name",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)
    assert str(info.value).startswith(f"{len(problems)} problem(s) in app declarations:")


def test_the_registry_reports_the_problems_of_all_apps_together() -> None:
    broken = good()
    broken.version = "one"
    other = Connector(
        key="other", title="Other", icon="/i.svg", version="2.0.0",
        auth=ApiKeyAuth(fields=()), provider={"base_url": "https://o.example"},
    )  # fmt: skip
    missing = EntryPoint("ghost", "no_such_package.apps:connector", registry.GROUP)
    with pytest.raises(DeclarationError) as info:
        registry.load_apps([broken, other, good()], entries=[missing])
    problems = info.value.problems
    assert any(p.startswith("notes.version: 'one'") for p in problems)
    assert any(p.startswith("other.auth.fields: an API-key app asks for") for p in problems)
    assert any(p.startswith("notes.key: another app already has this key") for p in problems)
    assert any(p.startswith("entry point ghost (no_such_package.apps:connector)") for p in problems)


def test_the_built_in_apps_pass_their_own_checks() -> None:
    for connector in registry.BUILT_IN:
        assert connector.problems() == []
    assert registry.get_app("BigCommerce") is registry.APPS["bigcommerce"]
    kinds = {key: app.categories for key, app in registry.APPS.items()}
    assert kinds == {
        "bigcommerce": ("ecommerce",), "shopify": ("ecommerce",), "hubspot": ("crm",),
        "slack": ("communication",), "stripe": ("payments",), "oauth2_sandbox": (),
        "snowflake": ("warehouse",),
    }  # fmt: skip


@pytest.fixture
def installed_package(tmp_path: Path) -> Iterator[Path]:
    """A package installed the way pip leaves one: a module and a dist-info with entry points."""
    (tmp_path / "acme_solder_pkg.py").write_text("from tests.apps.thirdparty import connector\n")
    info = tmp_path / "acme_solder_pkg-0.3.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-solder-pkg\nVersion: 0.3.1\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [solder.apps]
            acme_crm = acme_solder_pkg:connector
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("acme_solder_pkg", None)


def test_an_app_shipped_by_another_package_is_found_through_its_entry_point(
    installed_package: Path,
) -> None:
    apps: dict[str, Any] = registry.load_apps()
    assert set(apps) == {c.key for c in registry.BUILT_IN} | {"acme_crm"}
    acme = apps["acme_crm"]
    assert acme.version == "0.3.1"
    assert [f.name for f in acme.credential_fields] == ["username", "password"]
    assert acme.actions["echo"].run(context(), acme.actions["echo"].input_model(text="hi")) == {
        "echoed": "hi"
    }


# -- OAuth URLs per account (Shopify's shop) -----------------------------------------------------


def test_a_field_pattern_cannot_let_a_value_move_the_request_to_another_host() -> None:
    lax = (CredentialField("shop", "Shop", pattern=r".*"),)
    for value in ("evil.example/", "a@evil.example", "evil.example:1", "evil.example?"):
        with pytest.raises(BadInput, match="shop"):
            fill_url("https://{shop}/token", lax, {"shop": value})


def test_placeholders_must_name_fields_with_a_pattern() -> None:
    bad = Connector(
        key="perhost", title="Per host", icon="/i.svg", version="1.0.0",
        auth=OAuth2(authorize_url="https://{shop}/authorize", token_url="https://{tenant}/token",
                    fields=(CredentialField("shop", "Shop"),)),
        provider={"base_url": "https://{shop}"},
    )  # fmt: skip
    assert bad.problems() == [
        "perhost.auth.token_url: {tenant} names no field of the auth",
        "perhost.auth.fields.shop: a pattern is required (the value fills a URL)",
    ]
    twice = Connector(
        key="perhost", title="Per host", icon="/i.svg", version="1.0.0",
        auth=OAuth2(authorize_url="https://{shop}/authorize", token_url="https://{shop}/token",
                    fields=(CredentialField("shop", "Shop", pattern="[a-z]+"),
                            CredentialField("shop", "Shop", pattern="("),
                            CredentialField("accessToken", "Token", pattern="x"))),
        provider={"base_url": "https://{shop}"},
    )  # fmt: skip
    problems = twice.problems()
    assert "perhost.auth.fields.shop: declared twice" in problems
    assert any(p.startswith("perhost.auth.fields.shop.pattern: ") for p in problems)
    assert (
        "perhost.auth.fields.accessToken: the tokens or a kept fact are stored under this "
        "name" in problems
    )
