"""The generic OAuth 2.0 provider sandbox, on a real loopback socket."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from solder.sandbox import oauth2
from solder.sandbox.oauth import TokenBook
from tests.servers import run_asgi

CALLBACK = "http://127.0.0.1:9/install/callback"
CONFIDENTIAL = oauth2.Client("solder", "s3cret", (CALLBACK, "http://127.0.0.1:9/other"))
PUBLIC = oauth2.Client("spa", None, (CALLBACK,))
CREDS = ("solder", "s3cret")


@dataclass
class Provider:
    url: str
    book: TokenBook
    http: httpx2.Client

    def authorize(self, **params: str) -> dict[str, str]:
        """Follow /authorize to the redirect; the callback's query, one value a name."""
        answer = self.http.get("/authorize", params=params)
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        assert location.split("?")[0] == params.get("redirect_uri", CALLBACK)
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def token(self, auth: tuple[str, str] | None = None, **form: str) -> httpx2.Response:
        return self.http.post("/token", data=form, auth=auth)

    def redeem(self, code: str, verifier: str, **over: str) -> httpx2.Response:
        """The authorization_code grant, as the confidential client, with ``over`` replacing."""
        form = {"code": code, "redirect_uri": CALLBACK, "code_verifier": verifier, **over}
        return self.token(CREDS, grant_type="authorization_code", **form)


def challenge_for(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, TokenBook]]:
    app = oauth2.create_app([CONFIDENTIAL, PUBLIC], require_pkce=True, token_lifetime=60)
    with run_asgi(app) as url:
        yield url, app.state.book


@pytest.fixture
def provider(server: tuple[str, TokenBook]) -> Iterator[Provider]:
    url, book = server
    book.reset()
    book.lifetime, book.deny, book.rotate_refresh = 60, False, False
    with httpx2.Client(base_url=url) as http:
        yield Provider(url, book, http)


def code_flow(provider: Provider, verifier: str, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "solder",
        "redirect_uri": CALLBACK,
        "scope": "profile items:read",
        "state": "st-123",
        "code_challenge": challenge_for(verifier),
        "code_challenge_method": "S256",
        **extra,
    }
    return provider.authorize(**params)


def test_full_flow_authorize_token_api_expiry_refresh(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    back = code_flow(provider, verifier)
    assert back["state"] == "st-123"
    assert set(back) == {"code", "state"}

    answer = provider.redeem(back["code"], verifier)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    tokens = answer.json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert (tokens["token_type"], tokens["expires_in"], tokens["scope"]) == (
        "Bearer",
        60,
        "profile items:read",
    )
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = provider.http.get("/api/me", headers=auth)
    assert me.status_code == 200
    assert (me.json()["client_id"], me.json()["scope"]) == ("solder", "profile items:read")
    assert provider.http.get("/api/items", headers=auth).json()["items"][0]["name"] == "anvil"

    assert provider.http.post("/_sandbox/expire").json() == {"expired": 1}
    expired = provider.http.get("/api/items", headers=auth)
    assert expired.status_code == 401
    challenge = expired.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert expired.json()["error"] == "invalid_token"

    refreshed = provider.token(
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id="solder",
        client_secret="s3cret",
    )
    assert refreshed.status_code == 200, refreshed.text
    fresh = refreshed.json()
    assert fresh["access_token"] != tokens["access_token"]
    assert fresh["refresh_token"] == tokens["refresh_token"]  # not rotating
    auth = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert provider.http.get("/api/me", headers=auth).status_code == 200
    stats = provider.http.get("/_sandbox/tokens").json()
    assert (stats["tokens_issued"], stats["refreshes"], stats["codes_redeemed"]) == (2, 1, 1)


def test_tokens_expire_by_lifetime(provider: Provider) -> None:
    answer = provider.http.post("/_sandbox/tokens", json={"lifetime": 0.2})
    assert answer.json()["lifetime"] == 0.2
    token = provider.token(CREDS, grant_type="client_credentials").json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    assert "refresh_token" not in token
    assert provider.http.get("/api/me", headers=auth).status_code == 200
    provider.book.clock = lambda: 10**12  # far in the future
    try:
        assert provider.http.get("/api/me", headers=auth).status_code == 401
    finally:
        provider.book.clock = time.time


def test_pkce_mismatch_and_missing_verifier_are_refused(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    code = code_flow(provider, verifier)["code"]
    wrong = provider.redeem(code, secrets.token_urlsafe(48))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert "code_verifier" in wrong.json()["error_description"]

    code = code_flow(provider, verifier)["code"]
    missing = provider.token(
        CREDS, grant_type="authorization_code", code=code, redirect_uri=CALLBACK
    )
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_grant")
    assert provider.book.counters.tokens_issued == 0


def test_pkce_is_required_and_must_be_s256(provider: Provider) -> None:
    base = {"response_type": "code", "client_id": "solder", "redirect_uri": CALLBACK, "state": "x"}
    none = provider.authorize(**base)
    assert (none["error"], none["state"]) == ("invalid_request", "x")
    plain = provider.authorize(**base, code_challenge="a" * 43, code_challenge_method="plain")
    assert plain["error"] == "invalid_request"
    assert "S256" in plain["error_description"]


def test_a_code_is_single_use_and_reuse_revokes_its_tokens(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    code = code_flow(provider, verifier)["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    first = provider.token(CREDS, **form)
    assert first.status_code == 200
    again = provider.token(CREDS, **form)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    auth = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert provider.http.get("/api/me", headers=auth).status_code == 401
    renewal = first.json()["refresh_token"]
    refresh = provider.token(CREDS, grant_type="refresh_token", refresh_token=renewal)
    assert refresh.json()["error"] == "invalid_grant"


def test_an_expired_code_is_refused(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    provider.book.code_lifetime = -1
    try:
        code = code_flow(provider, verifier)["code"]
    finally:
        provider.book.code_lifetime = 60
    answer = provider.redeem(code, verifier)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


def test_redirect_uri_must_match_exactly_and_is_never_redirected_to(provider: Provider) -> None:
    for uri in (CALLBACK + "/", CALLBACK.upper(), CALLBACK + "?x=1", "http://evil.example/cb"):
        answer = provider.http.get(
            "/authorize",
            params={"response_type": "code", "client_id": "solder", "redirect_uri": uri},
        )
        assert answer.status_code == 400, uri
        assert "location" not in answer.headers
        assert answer.json()["error"] == "invalid_request"
    unknown = provider.http.get("/authorize", params={"client_id": "nobody"})
    assert unknown.status_code == 400

    verifier = secrets.token_urlsafe(48)
    code = code_flow(provider, verifier)["code"]
    other = provider.redeem(code, verifier, redirect_uri="http://127.0.0.1:9/other")
    assert (other.status_code, other.json()["error"]) == (400, "invalid_grant")


def test_denied_consent_redirects_with_access_denied(provider: Provider) -> None:
    provider.http.post("/_sandbox/tokens", json={"deny": True})
    back = code_flow(provider, secrets.token_urlsafe(48))
    assert back == {
        "error": "access_denied",
        "error_description": "The user denied the request.",
        "state": "st-123",
    }
    assert provider.http.get("/_sandbox/tokens").json()["denied"] == 1


def test_client_authentication(provider: Provider) -> None:
    bad_basic = provider.token(("solder", "wrong"), grant_type="client_credentials")
    assert bad_basic.status_code == 401
    assert bad_basic.json()["error"] == "invalid_client"
    assert bad_basic.headers["www-authenticate"].startswith("Basic")
    bad_form = provider.token(grant_type="client_credentials", client_id="solder")
    assert (bad_form.status_code, bad_form.json()["error"]) == (401, "invalid_client")
    both = provider.token(CREDS, grant_type="client_credentials", client_secret="x")
    assert (both.status_code, both.json()["error"]) == (400, "invalid_request")
    form = provider.token(
        grant_type="client_credentials", client_id="solder", client_secret="s3cret"
    )
    assert form.status_code == 200
    public = provider.token(grant_type="client_credentials", client_id="spa")
    assert (public.status_code, public.json()["error"]) == (400, "unauthorized_client")
    unsupported = provider.token(CREDS, grant_type="password")
    assert unsupported.json()["error"] == "unsupported_grant_type"


def test_public_client_uses_pkce_without_a_secret(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    code = code_flow(provider, verifier, client_id="spa")["code"]
    answer = provider.token(
        grant_type="authorization_code",
        client_id="spa",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=verifier,
    )
    assert answer.status_code == 200, answer.text


def test_rotating_refresh_tokens(provider: Provider) -> None:
    provider.http.post("/_sandbox/tokens", json={"rotate_refresh": True})
    verifier = secrets.token_urlsafe(48)
    code = code_flow(provider, verifier)["code"]
    first = provider.redeem(code, verifier).json()
    second = provider.token(CREDS, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    reused = provider.token(CREDS, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    narrower = provider.token(
        CREDS,
        grant_type="refresh_token",
        refresh_token=second.json()["refresh_token"],
        scope="profile",
    )
    assert narrower.json()["scope"] == "profile"
    assert provider.book.counters.refreshes == 2


def test_api_needs_a_bearer_token_and_the_scope(provider: Provider) -> None:
    none = provider.http.get("/api/me")
    assert none.status_code == 401
    assert none.headers["www-authenticate"] == 'Bearer realm="sandbox"'
    bogus = provider.http.get("/api/me", headers={"Authorization": "Bearer nope"})
    assert 'error="invalid_token"' in bogus.headers["www-authenticate"]
    token = provider.token(CREDS, grant_type="client_credentials", scope="profile").json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    items = provider.http.get("/api/items", headers=auth)
    assert items.status_code == 403
    assert 'error="insufficient_scope"' in items.headers["www-authenticate"]


def test_revoke_endpoint_and_control(provider: Provider) -> None:
    first = provider.token(CREDS, grant_type="client_credentials").json()
    second = provider.token(CREDS, grant_type="client_credentials").json()
    revoked = provider.http.post("/revoke", data={"token": first["access_token"]}, auth=CREDS)
    assert revoked.status_code == 200
    auth = {"Authorization": f"Bearer {first['access_token']}"}
    assert provider.http.get("/api/me", headers=auth).status_code == 401
    assert provider.http.post("/_sandbox/revoke", json={}).json() == {"revoked": 1}
    auth = {"Authorization": f"Bearer {second['access_token']}"}
    assert provider.http.get("/api/me", headers=auth).status_code == 401
