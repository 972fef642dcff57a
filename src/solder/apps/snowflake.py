"""Snowflake as an app an end user connects: the credential a ``snowflake`` destination block
writes with when it says ``credential: installation`` (``docs/destinations.md``).

It has no actions or triggers and no HTTP API for the HTTP block or the passthrough: the
destination speaks to Snowflake through its official connector. Connecting checks the
credential by logging in (and out); a refused one is not stored.

The default base URL stands for the account's own host (``<account>.snowflakecomputing.com``,
which the connector derives from the account); a server that sets another for the app in
``app_base_urls`` (a private link, the tests' emulator) makes the connector go there.
"""

from __future__ import annotations

from solder.apps.base import AppContext, CredentialField
from solder.apps.sdk import ApiKeyAuth, Connector
from solder.destinations import snowflake as warehouse
from solder.errors import BadInput

FIELDS = (
    CredentialField(
        "account",
        "Account identifier",
        "orgname-accountname (or the account locator), as in your Snowflake URL",
    ),
    CredentialField("user", "User"),
    CredentialField(
        "password", "Password", "leave empty to sign in with a key pair", secret=True,
        required=False,
    ),
    CredentialField(
        "privateKey", "Private key (PEM)",
        "a PKCS#8 private key whose public key is set on the user (key-pair auth)",
        secret=True, required=False,
    ),
    CredentialField(
        "privateKeyPassphrase", "Private key passphrase", "if the key is encrypted",
        secret=True, required=False,
    ),
    CredentialField("warehouse", "Warehouse", required=False),
    CredentialField("database", "Database", required=False),
    CredentialField("schema", "Schema", required=False),
    CredentialField("role", "Role", required=False),
)  # fmt: skip

connector = Connector(
    key="snowflake",
    title="Snowflake",
    icon="/static/icons/snowflake.svg",
    version="1.0.0",
    description="a Snowflake account that Snowflake destination blocks write to as the user",
    auth=ApiKeyAuth(fields=FIELDS),
    provider={
        "base_url": f"https://{warehouse.DEFAULT_HOST}",
        "docs_url": "https://docs.snowflake.com/en/developer-guide/python-connector/python-connector",
    },
    categories=("warehouse",),
)


@connector.credential_test
def _log_in(ctx: AppContext) -> None:
    """Log in with the new credential; a field that cannot be used fails naming it."""
    try:
        warehouse.check_login(ctx.credential, ctx.base_url)
    except warehouse.CredentialProblem as exc:
        where = f"credential.data.{exc.part}"
        raise BadInput(f"{where}: {exc.why}", field=where) from None
