"""Signatures on the requests Solder sends out (Stream Data, HTTP blocks, error streams).

Like Alloy, Solder signs ``METHOD + URL + BODY`` (the upper-case method, the full URL as sent,
and the raw body bytes, concatenated with nothing between them) with RSA PKCS#1 v1.5 over
SHA-256, and sends the base64 signature in ``X-Alloy-Signature``. The receiver verifies it with
the server's public key, served as PEM at ``GET /signing-key``.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNATURE_HEADER = "X-Alloy-Signature"


def signed_message(method: str, url: str, body: bytes) -> bytes:
    return method.upper().encode() + url.encode() + body


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_to_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("signing key must be an RSA key")
    return key


def public_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(key: rsa.RSAPrivateKey, method: str, url: str, body: bytes) -> str:
    raw = key.sign(signed_message(method, url, body), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


def verify(public_pem: bytes, method: str, url: str, body: bytes, signature: str) -> bool:
    """True when ``signature`` is Solder's signature of this request."""
    public = serialization.load_pem_public_key(public_pem)
    if not isinstance(public, rsa.RSAPublicKey):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        public.verify(raw, signed_message(method, url, body), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
