"""Credentials, app metadata, dropdowns, OAuth2 links and passthrough through the client."""

from __future__ import annotations

import httpx2
import pytest

from solder.client import BadRequest, NotFound, Solder, ValidationError
from tests.api.test_oauth import Provider, provider  # noqa: F401 - the OAuth2 sandbox fixture
from tests.conftest import STORE_HASH, STORE_TOKEN
from tests.flows import NEW_ORDER, push_quickstart

STORE = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN}}


def test_install_with_a_credential_then_list_and_delete_it(
    solder: Solder, api: httpx2.Client, receiver_url: str
) -> None:
    push_quickstart(api)
    user_id = solder.create_user("gregg")
    (quickstart,) = solder.list_integrations()
    installed = solder.install(
        user_id,
        quickstart.integration_id,
        lambda _block, _field: f"{receiver_url}/orders",
        credentials=[STORE],
    )
    (credential_id,) = installed.credential_ids
    (listed,) = solder.list_credentials(user_id)
    assert (listed.credential_id, listed.type) == (credential_id, "bigcommerce")
    assert "accessToken" not in listed.model_dump_json()
    assert {w.name for w in solder.list_workflows(user_id) if w.active} >= {NEW_ORDER}

    statuses = solder.app_options("bigcommerce", "order_statuses", credential_id, user_id)
    assert "Shipped" in {o.label for o in statuses}

    second = solder.create_credential(user_id, "bigcommerce", STORE["data"])
    assert len(solder.list_credentials(user_id)) == 2
    assert solder.delete_credential(user_id, second) is True
    assert [c.credential_id for c in solder.list_credentials(user_id)] == [credential_id]
    with pytest.raises(NotFound):
        solder.delete_credential(user_id, second)
    with pytest.raises(ValidationError) as refused:
        solder.create_credential(user_id, "bigcommerce", {"storeHash": STORE_HASH})
    assert refused.value.field is not None
    assert refused.value.field.startswith("credential")


def test_metadata_describes_the_apps_and_their_credentials(solder: Solder) -> None:
    apps = {a.app: a for a in solder.app_metadata()}
    assert "order_statuses" in apps["bigcommerce"].options
    assert any(a.key == "update_order_status" for a in apps["bigcommerce"].actions)
    (bigcommerce,) = solder.credential_metadata("bigcommerce")
    assert {p.name for p in bigcommerce.properties} == {"storeHash", "accessToken"}
    assert not bigcommerce.is_oauth
    assert "bigcommerce" in {c.connector for c in solder.credential_metadata()}
    with pytest.raises(NotFound) as unknown:
        solder.credential_metadata("nope")
    assert unknown.value.status == 404


def test_passthrough_answers_with_the_providers_status(solder: Solder) -> None:
    user_id = solder.create_user("gregg")
    credential_id = solder.create_credential(user_id, "bigcommerce", STORE["data"])
    empty = solder.passthrough(credential_id, "GET", "/v2/orders")
    assert (empty.status_code, empty.data) == (204, None)  # BigCommerce: no orders yet
    missing = solder.passthrough(credential_id, "GET", "/v2/orders/424242")
    assert missing.status_code == 404  # the provider's answer, not an exception
    with pytest.raises(BadRequest) as refused:
        solder.passthrough(credential_id, "GET", "http://elsewhere.example/v2/orders")
    assert refused.value.field == "path"
    user = solder.as_user(solder.user_token(user_id))
    assert user.passthrough(credential_id, "GET", "/v2/orders/424242").status_code == 404


def test_oauth_url_sends_the_user_to_the_provider(solder: Solder, provider: Provider) -> None:  # noqa: F811
    user_id = solder.create_user("gregg")
    url = solder.oauth_url("oauth2_sandbox", user_id)
    assert url.startswith(f"{provider.url}/authorize?")
    with pytest.raises(NotFound) as unknown:
        solder.oauth_url("nope", user_id)
    assert unknown.value.field == "app"
