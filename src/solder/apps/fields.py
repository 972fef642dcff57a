"""Values a user gives that become part of a URL: Shopify's shop domain in
``https://{shop}/admin/oauth/access_token``.

A URL names them with ``{name}`` placeholders; ``fill_url`` replaces each with the value of
the credential field ``name`` only when the value matches the field's ``pattern`` in full and
holds nothing but a host name's characters, so a value can never move a request (carrying a
client secret or a token) to a host the app did not mean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from solder.apps.base import CredentialField
from solder.errors import BadInput

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL_SAFE = re.compile(r"^[A-Za-z0-9.-]+$")
"""What a value filled into a URL may hold whatever its field's pattern says: a host name or a
path segment, never a ``/``, ``@``, ``:``, ``?`` or ``#`` that would move the request."""


def placeholders(url: str) -> list[str]:
    """The names of ``url``'s ``{name}`` placeholders, in order."""
    return PLACEHOLDER.findall(url)


def fill_url(url: str, fields: tuple[CredentialField, ...], values: Mapping[str, Any]) -> str:
    """``url`` with each ``{name}`` replaced by the value of the field ``name``.

    Each value must fully match its field's pattern and look like a host name (letters,
    digits, dots, hyphens), so no value can send the request to another host: ``BadInput``
    naming the field otherwise.
    """
    by_name = {f.name: f for f in fields}

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        spec = by_name.get(name)
        value = values.get(name)
        if spec is None:
            raise BadInput(f"{name}: not a field of this app", field=name)
        if not isinstance(value, str) or not value.strip():
            raise BadInput(f"{name}: required ({spec.display_name})", field=name)
        value = value.strip()
        if (
            spec.pattern is None
            or not re.fullmatch(spec.pattern, value)
            or not _URL_SAFE.match(value)
        ):
            hint = f" ({spec.description})" if spec.description else ""
            raise BadInput(f"{name}: {value!r} is not a valid {spec.display_name}{hint}", name)
        return value

    return PLACEHOLDER.sub(value_of, url)
