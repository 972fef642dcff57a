"""Dashboard account passwords: argon2id hashes (argon2-cffi, ADR 0014), never the password.

:func:`verify` takes the stored hash or ``None`` (no such account) and spends the same work
either way, hashing against a dummy when there is no account, so the time a login takes does
not tell whether the email exists.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from solder.errors import BadInput

MIN_LENGTH = 12
MAX_LENGTH = 1024
_hasher = PasswordHasher()  # argon2id, RFC 9106's second recommended settings (64 MiB, t=3)


def check_password(password: str) -> str:
    """The password if it is acceptable; ``BadInput`` naming ``password`` otherwise."""
    if len(password) < MIN_LENGTH:
        raise BadInput(f"password: at least {MIN_LENGTH} characters", field="password")
    if len(password) > MAX_LENGTH:
        raise BadInput(f"password: at most {MAX_LENGTH} characters", field="password")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


@lru_cache(maxsize=1)
def _dummy() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; with ``stored=None``, the same work and False."""
    if len(password) > MAX_LENGTH:
        password = password[:MAX_LENGTH]  # bound the work; such a password was never stored
    try:
        matched = _hasher.verify(stored if stored is not None else _dummy(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and stored is not None


def upgraded(stored: str, password: str) -> str | None:
    """A new hash of a password that just matched ``stored``, when ``stored`` was made with
    weaker settings than today's; None when it is current. (No length check: the password
    was accepted when it was set.)"""
    return _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None
