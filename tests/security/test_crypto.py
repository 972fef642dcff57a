"""The key ring's failures are KeyRingError, whatever is wrong with the stored bytes."""

from __future__ import annotations

import os

import pytest

from solder.security.crypto import KeyRing, KeyRingError

RING = KeyRing((os.urandom(32),))


@pytest.mark.parametrize("blob", [b"", b"short", b"x" * 12, b"x" * 40])
def test_a_damaged_ciphertext_fails_its_integrity_check(blob: bytes) -> None:
    with pytest.raises(KeyRingError, match="integrity"):
        RING.decrypt(RING.current_id, blob, "credentials:1")


def test_a_ciphertext_moved_to_another_row_does_not_decrypt() -> None:
    kid, blob = RING.encrypt(b"secret", "credentials:1")
    assert RING.decrypt(kid, blob, "credentials:1") == b"secret"
    with pytest.raises(KeyRingError, match="integrity"):
        RING.decrypt(kid, blob, "credentials:2")
