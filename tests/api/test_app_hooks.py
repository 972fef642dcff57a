"""/hooks/{app}/{installId}: an app's callback is stored only when it proves where it came from.

BigCommerce's callbacks carry the secret header given when the hook was made (checked by
hash); apps that sign each body (Stripe) check it with their trigger's ``verify``, which
tests/apps/test_stripe.py covers."""

from __future__ import annotations

import httpx2

from solder.apps.bigcommerce import SECRET_HEADER
from solder.sandbox.bigcommerce import StoreState
from tests.flows import install_quickstart, push_quickstart


def test_a_bigcommerce_callback_needs_the_hook_secret_header(
    api: httpx2.Client, receiver_url: str, sandbox_store: tuple[str, StoreState]
) -> None:
    push_quickstart(api)
    install_quickstart(api, "gregg", receiver_url)
    (hook,) = [h for h in sandbox_store[1].hooks.values() if h["is_active"]]
    secret = hook["headers"][SECRET_HEADER]
    body = {"scope": "store/order/created", "hash": "h-1", "data": {"type": "order", "id": 1}}
    for headers in ({}, {SECRET_HEADER: secret + "x"}, {SECRET_HEADER: ""}):
        refused = httpx2.post(hook["destination"], json=body, headers=headers)
        assert refused.status_code == 401, refused.text
        assert secret not in refused.text
    accepted = httpx2.post(hook["destination"], json=body, headers={SECRET_HEADER: secret})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"received": True, "duplicate": False}
