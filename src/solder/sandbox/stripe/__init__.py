"""A local Stripe account in test mode: the slice of the v1 API that Solder uses, on the wire.

Every call needs the secret key as ``Authorization: Bearer sk_test_...`` (or as the basic-auth
user); bodies and query strings are form-encoded, nested as Stripe nests them
(``metadata[plan]=pro``, ``enabled_events[]=customer.created``)::

    GET  POST        /v1/customers                list (email), create
    GET  POST DELETE /v1/customers/{id}           read, update, delete
    GET  POST        /v1/invoices                 list (customer, status), create (customer)
    GET              /v1/invoices/{id}
    POST             /v1/invoices/{id}/finalize   draft -> open, numbered
    POST             /v1/invoices/{id}/pay        open (or draft, finalized first) -> paid
    POST             /v1/invoiceitems             an amount on a draft invoice (invoice=in_...)
    GET  POST        /v1/webhook_endpoints        list, create (url, enabled_events; the answer
                                                  alone shows the whsec_ secret)
    GET  DELETE      /v1/webhook_endpoints/{id}

Lists are ``{"object": "list", "data", "has_more", "url"}``, newest first, paged by ``limit``
(1-100, default 10), ``starting_after`` and ``ending_before``. A POST with ``Idempotency-Key``
keeps its first result (replayed with ``Idempotent-Replayed: true``); the same key with other
parameters is 400 ``idempotency_error``. Errors are ``{"error": {"type", "message", "code",
"param"}}`` (401 bad key, 404 ``resource_missing``, 400 ``parameter_missing``/
``parameter_unknown``, 402 ``card_declined``, 429 ``rate_limit``).

Events (``customer.created|updated|deleted``, ``invoice.created|finalized|paid|
payment_succeeded|payment_failed``, ``invoiceitem.created``) are POSTed to each matching
endpoint with ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256("{t}.{body}", secret)>``, signed
anew for each attempt and retried on errors and non-2xx. Control endpoints (no auth)::

    GET  /_sandbox/deliveries   every delivery attempt
    GET  /_sandbox/events       every event, newest first
    POST /_sandbox/settings     {"rate_limited": bool, "decline_payments": bool}
"""

from solder.sandbox.stripe.app import Account, create_app, serve
from solder.sandbox.stripe.wire import signature_header

__all__ = ["Account", "create_app", "serve", "signature_header"]
