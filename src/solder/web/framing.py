"""Which pages may frame the install modal: ``Content-Security-Policy: frame-ancestors``.

Each environment lists the origins of the ISV's pages that may show the modal
(``frameAncestors`` in ``PUT /manage/settings``); ``/forge-install`` and ``/authenticate-app``
send exactly that list, so a page on any other origin gets a frame the browser refuses to
draw, and cannot trick a user into clicking inside it. An empty list allows no page at all
(hosted install links still work: they are not framed).

Unset, the list is the machine's own pages (``localhost`` and ``127.0.0.1`` on any port, over
http or https): the quick start works on a developer's machine, and a server on the internet
frames for nobody until its ISV names its origins.
"""

from __future__ import annotations

import re
from typing import Any

from solder.errors import BadInput
from solder.security.tokens import environment_of
from solder.store import outbox

FIELD = "frameAncestors"
UNSET = (
    "http://localhost:*",
    "http://127.0.0.1:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
)
MAX_ORIGINS = 50
LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
ORIGIN = re.compile(
    rf"^(?P<scheme>https?)://(?P<host>(\*\.)?{LABEL}(\.{LABEL})*)(:(?P<port>\d{{1,5}}|\*))?/?$"
)


def check_origins(values: list[Any]) -> list[str]:
    """The list as the header will carry it: ``scheme://host[:port]`` each, lower case.

    ``https://*.example.com`` (any subdomain) and ``:*`` (any port) are allowed, as CSP reads
    them; paths, queries, quotes and keywords are not (they would loosen or break the header).
    """
    if len(values) > MAX_ORIGINS:
        raise BadInput(f"{FIELD}: {MAX_ORIGINS} origins at most", field=FIELD)
    out: list[str] = []
    for i, value in enumerate(values):
        where = f"{FIELD}[{i}]"
        text = value.strip().lower() if isinstance(value, str) else ""
        found = ORIGIN.match(text)
        if found is None or (found["port"] not in (None, "*") and int(found["port"]) > 65535):
            raise BadInput(
                f"{where}: {value!r} is not an origin such as https://app.example.com "
                "(http or https, a host, an optional port; no path)",
                field=where,
            )
        origin = text.rstrip("/")
        if origin not in out:
            out.append(origin)
    return out


def directive(origins: list[str] | None) -> str:
    """``frame-ancestors`` for the environment's list (``None``: not set)."""
    chosen = UNSET if origins is None else origins
    return "frame-ancestors " + (" ".join(chosen) if chosen else "'none'")


def for_token(services: Any, token: str | None) -> str:
    """The directive for the environment of ``token`` (even an expired one, so its page
    still shows where the ISV frames it); the unset list when the token is not ours."""
    env = environment_of(services.token_secret, token) if token else None
    if env is None:
        return directive(None)
    with services.reader.connect() as conn:
        stored = outbox.settings_of(conn, env).get(FIELD)
    return directive(stored if isinstance(stored, list) else None)
