"""API keys: random, shown once, stored as a SHA-256 hash, prefixed by environment."""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

Environment = Literal["development", "production"]
ENVIRONMENTS: tuple[Environment, ...] = ("development", "production")
PREFIXES: dict[Environment, str] = {"development": "sk_dev_", "production": "sk_live_"}


def generate(environment: Environment) -> str:
    return "solder_" + PREFIXES[environment] + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """What may be shown later to tell keys apart: the prefix and four characters."""
    return key[: len("solder_sk_live_") + 4]
