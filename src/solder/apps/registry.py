"""The apps this server has, by key."""

from __future__ import annotations

from collections.abc import Mapping

from solder.apps import bigcommerce
from solder.apps.base import App

APPS: Mapping[str, App] = {a.key: a for a in (bigcommerce.app,)}


def get_app(key: str) -> App | None:
    return APPS.get(key.lower())
