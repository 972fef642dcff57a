"""``solder keys rotate-encryption`` end to end, through click, on the store under test."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, delete

from solder.cli import main
from solder.store.tables import credentials
from tests.sealed import NEW, OLD, SIGNING, STRAY, seed, signing_secret, tokens


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def rotate(database_url: str, tmp_path: Path, secret_key: str | None) -> Result:
    env = {
        "SOLDER_DATABASE_URL": database_url,
        "SOLDER_SECRET_KEY": secret_key,
        "SOLDER_KEY_FILE": str(tmp_path / "absent.key"),
    }
    return CliRunner().invoke(main, ["keys", "rotate-encryption", "--batch-size", "2"], env=env)


def test_rotate_encryption_reports_reruns_and_never_shows_a_secret(
    engine: Engine, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    made = seed(engine, OLD, 3)
    (stray,) = seed(engine, STRAY, 1, secret=False)
    ring = f"{b64(NEW.keys[0])},{b64(OLD.keys[0])}"

    first = rotate(database_url, tmp_path, ring)

    assert first.exit_code == 1, first.output
    assert f"current key {NEW.current_id}; keys in the ring: 2" in first.stdout
    assert "credentials: 3 re-encrypted, 0 already current, 1 undecryptable" in first.stdout
    assert "server_secrets: 1 re-encrypted, 0 already current, 0 undecryptable" in first.stdout
    assert (
        f"credentials {stray}: not decryptable: no key with id {STRAY.current_id}" in first.stderr
    )
    with engine.begin() as conn:
        conn.execute(delete(credentials).where(credentials.c.id == stray))

    second = rotate(database_url, tmp_path, ring)

    assert second.exit_code == 0, second.output
    assert "credentials: 0 re-encrypted, 3 already current, 0 undecryptable" in second.stdout
    assert "server_secrets: 0 re-encrypted, 1 already current, 0 undecryptable" in second.stdout
    assert tokens(engine, NEW) == made
    assert signing_secret(engine, NEW) == SIGNING
    shown = first.output + second.output + caplog.text
    for secret in [*made.values(), SIGNING.decode(), *(b64(k) for k in NEW.keys + OLD.keys)]:
        assert secret not in shown


def test_rotate_encryption_does_not_make_a_key_ring_up(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    result = rotate(database_url, tmp_path, None)

    assert result.exit_code == 2
    assert "no key ring" in result.stderr
    assert not (tmp_path / "absent.key").exists()
