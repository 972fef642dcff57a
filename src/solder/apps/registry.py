"""The apps this server has, by key: Solder's own and those other packages declare.

A package ships an app without touching Solder by declaring an entry point in the group
``solder.apps`` that names a :class:`~solder.apps.sdk.Connector` (or a module holding one as
``connector``)::

    [project.entry-points."solder.apps"]
    acme_crm = "acme_solder.crm:connector"

Every app is checked when the registry is first imported; the problems of all of them are
raised together as one :class:`~solder.apps.sdk.DeclarationError` (a bad app stops start-up
rather than failing its first run). An entry point that cannot be loaded is a problem too,
named by the entry point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

from solder.apps import bigcommerce, hubspot, oauth2_sandbox, shopify, slack, snowflake, stripe
from solder.apps.base import App
from solder.apps.sdk import Connector, DeclarationError

GROUP = "solder.apps"
BUILT_IN: tuple[Connector, ...] = (
    bigcommerce.connector,
    oauth2_sandbox.connector,
    slack.connector,
    stripe.connector,
    hubspot.connector,
    shopify.connector,
    snowflake.connector,
)
SANDBOX_ONLY = frozenset({"oauth2_sandbox"})
"""Apps a server offers only when their OAuth client is configured (test providers)."""


def _connector_of(entry: EntryPoint) -> Connector:
    loaded = entry.load()
    if isinstance(loaded, ModuleType):
        loaded = getattr(loaded, "connector", None)
    if not isinstance(loaded, Connector):
        raise TypeError(f"{entry.value} is not a solder.apps.sdk.Connector")
    return loaded


def load_apps(
    connectors: Iterable[Connector] = BUILT_IN, entries: Iterable[EntryPoint] | None = None
) -> dict[str, App]:
    """Build every app; raise one ``DeclarationError`` with the problems of all of them."""
    problems: list[str] = []
    found = list(connectors)
    for entry in entry_points(group=GROUP) if entries is None else entries:
        try:
            found.append(_connector_of(entry))
        except Exception as exc:  # noqa: BLE001 - any failure to load is reported, with the rest
            problems.append(f"entry point {entry.name} ({entry.value}): {exc}")
    apps: dict[str, App] = {}
    keys: set[str] = set()
    for connector in found:
        issues = connector.problems()
        if connector.key in keys:
            issues.append(f"{connector.key}.key: another app already has this key")
        keys.add(connector.key)
        if issues:
            problems += issues
            continue
        apps[connector.key] = connector.build()
    if problems:
        raise DeclarationError(problems)
    return apps


APPS: Mapping[str, App] = load_apps()


def get_app(key: str) -> App | None:
    return APPS.get(key.lower())
