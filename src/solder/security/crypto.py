"""Secrets at rest: AES-256-GCM under a key ring.

Each ciphertext is ``nonce (12 bytes) || ciphertext+tag`` and is stored beside the id of the
key that made it. The row's identity (table and id) is bound as associated data, so a
ciphertext copied into another row does not decrypt. The first key of the ring encrypts; every
key decrypts, which is how keys are rotated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from solder.errors import SolderError


class KeyRingError(SolderError):
    code = "key_ring"


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"solder-key-id" + key).hexdigest()[:16]


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[bytes, ...]

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Comma-separated base64 keys of 32 bytes; the first one encrypts."""
        keys = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            try:
                raw = base64.b64decode(part, validate=True)
            except binascii.Error as exc:
                raise KeyRingError("SOLDER_SECRET_KEY: not base64") from exc
            if len(raw) != 32:
                raise KeyRingError("SOLDER_SECRET_KEY: each key must be 32 bytes")
            keys.append(raw)
        if not keys:
            raise KeyRingError("SOLDER_SECRET_KEY: empty")
        return cls(tuple(keys))

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        """Load the key file, creating it (mode 0600) with a fresh key when missing."""
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        return cls.parse(path.read_text())

    @property
    def current_id(self) -> str:
        return key_id(self.keys[0])

    def derive(self, purpose: str) -> bytes:
        """A sub-key for another use (e.g. signing user tokens), from the current key."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return hkdf.derive(self.keys[0])

    def encrypt(self, plaintext: bytes, aad: str) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[0]).encrypt(nonce, plaintext, aad.encode())
        return self.current_id, nonce + sealed

    def decrypt(self, kid: str, blob: bytes, aad: str) -> bytes:
        for key in self.keys:
            if key_id(key) == kid:
                if len(blob) < 12:  # no whole nonce: AESGCM would raise ValueError
                    raise KeyRingError("stored secret failed its integrity check")
                try:
                    return AESGCM(key).decrypt(blob[:12], blob[12:], aad.encode())
                except InvalidTag as exc:
                    raise KeyRingError("stored secret failed its integrity check") from exc
        raise KeyRingError(f"no key with id {kid} in SOLDER_SECRET_KEY")

    def encrypt_json(self, value: Any, aad: str) -> tuple[str, bytes]:
        return self.encrypt(json.dumps(value).encode(), aad)

    def decrypt_json(self, kid: str, blob: bytes, aad: str) -> Any:
        return json.loads(self.decrypt(kid, blob, aad))
