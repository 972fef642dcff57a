"""A local Slack workspace: the Web API methods, OAuth v2 and Events API delivery Solder uses.

Web API methods take GET query strings, form bodies or JSON bodies, and a token in
``Authorization: Bearer`` (or a ``token`` form field). They answer HTTP 200 with
``{"ok": true, ...}`` or ``{"ok": false, "error": "not_authed" | "invalid_auth" | ...}``, and
429 ``ratelimited`` with ``Retry-After`` while the rate-limit switch is on::

    /api/auth.test
    /api/chat.postMessage          channel (id or name), text, blocks; returns channel, ts, message
    /api/conversations.list        types, exclude_archived, limit, cursor (response_metadata)
    /api/conversations.info        channel
    /api/oauth.v2.access           client_id/client_secret (form or basic auth), code,
                                   redirect_uri; grant_type=refresh_token when rotation is on
    GET /oauth/v2/authorize        client_id, scope, user_scope, redirect_uri, state: approves
                                   at once (302 with code and state), or denies when told to

Events are POSTed as ``event_callback`` envelopes to the request URL, signed with
``X-Slack-Signature: v0=hex(HMAC-SHA256(signing_secret, "v0:{timestamp}:{body}"))`` and
``X-Slack-Request-Timestamp``, retried with ``X-Slack-Retry-Num``/``X-Slack-Retry-Reason``.
Control endpoints (no auth)::

    GET  /_sandbox/deliveries        every event delivery attempt
    POST /_sandbox/settings          {request_url, rate_limited, retry_after, token_rotation}:
                                     set any, answer all (rotation: bot tokens expire in 12 h and
                                     come with single-use refresh tokens)
    ...                              and the token controls of :mod:`solder.sandbox.oauth` for
                                     the bot tokens (deny consent, lifetime, expire, revoke)
    POST /_sandbox/channels          {name, is_private, is_member}: add a channel
    POST /_sandbox/messages          {channel, user, text}: a user posts; fires a message event
    POST /_sandbox/url_verification  send the challenge to the request URL, report the answer
"""

from solder.sandbox.slack.app import Workspace, create_app, serve
from solder.sandbox.slack.wire import sign

__all__ = ["Workspace", "create_app", "serve", "sign"]
