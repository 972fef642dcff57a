"""Each ``solder sandbox`` command passes its options to the sandbox's ``serve``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from solder import cli
from solder.sandbox import hubspot, oauth2, shopify, slack, stripe


def run(monkeypatch: pytest.MonkeyPatch, module: object, *args: str) -> dict[str, object]:
    seen: dict[str, object] = {}

    def fake_serve(*positional: object, **options: object) -> None:
        seen.update(positional=positional, **options)

    monkeypatch.setattr(module, "serve", fake_serve)
    result = CliRunner().invoke(cli.main, ["sandbox", *args])
    assert result.exit_code == 0, result.output
    return seen


def test_shopify_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = run(monkeypatch, shopify, "shopify", "--port", "7001", "--shop", "a.myshopify.com")
    assert seen["positional"] == (
        "127.0.0.1", 7001, "a.myshopify.com", "shpat_sandbox", "sandbox-client", "sandbox-secret",
    )  # fmt: skip


def test_hubspot_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = run(monkeypatch, hubspot, "hubspot", "--token-lifetime", "2", "--private-app-token", "p")
    assert seen["positional"] == ("127.0.0.1", 9004, "sandbox-client", "sandbox-secret")
    assert (seen["token_lifetime"], seen["private_app_token"]) == (2.0, "p")


def test_oauth2_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = run(
        monkeypatch, oauth2, "oauth2", "--redirect-uri", "http://a/cb", "--redirect-uri",
        "http://b/cb", "--no-require-pkce", "--rotate-refresh-tokens",
    )  # fmt: skip
    client = oauth2.Client("sandbox-client", "sandbox-secret", ("http://a/cb", "http://b/cb"))
    assert seen["positional"] == ("127.0.0.1", 9005, client)
    assert (seen["require_pkce"], seen["rotate_refresh"], seen["token_lifetime"]) == (
        False,
        True,
        3600.0,
    )


def test_slack_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = run(monkeypatch, slack, "slack", "--request-url", "http://a/events", "--bot-token", "b")
    assert seen["positional"] == ("127.0.0.1", 9006, "b", "sandbox-signing-secret")
    assert (seen["client_id"], seen["client_secret"], seen["request_url"]) == (
        "1111.2222",
        "sandbox-client-secret",
        "http://a/events",
    )


def test_stripe_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = run(monkeypatch, stripe, "stripe", "--port", "7002", "--api-key", "sk_test_x")
    assert seen["positional"] == ("127.0.0.1", 7002, "sk_test_x")
