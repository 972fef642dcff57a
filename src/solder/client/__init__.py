"""A Python client for Solder's API (and Alloy-compatible servers): ``docs/python-client.md``.

::

    from solder.client import Solder

    with Solder("https://solder.example.com", api_key) as solder:
        user_id = solder.create_user("gregg")
        for integration in solder.list_integrations(user_id):
            ...
        solder.run_event("Order Shipped", user_id, {"orderId": "42"})
"""

from solder.client.clients import AsyncSolder, Solder
from solder.client.errors import (
    AuthenticationError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    SolderAPIError,
    ValidationError,
)
from solder.client.installs import Installed

__all__ = [
    "AsyncSolder",
    "AuthenticationError",
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "Installed",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "Solder",
    "SolderAPIError",
    "ValidationError",
]
