"""Re-encrypting secrets at rest under the ring's current key, on the store under test."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, update

from solder.store import accounts, installs, rotation
from solder.store.tables import credentials, metadata, server_secrets
from tests.sealed import BOTH, NEW, OLD, SIGNING, STRAY, key_ids, seed, signing_secret, tokens


class Interrupted(Exception):
    pass


def by_table(reports: list[rotation.TableRotation]) -> dict[str, rotation.TableRotation]:
    return {report.table: report for report in reports}


def test_every_table_with_ciphertexts_is_rotated() -> None:
    sealed = {t.name for t in metadata.tables.values() if "ciphertext" in t.c}
    assert sealed == {s.table.name for s in rotation.SEALED} == {"credentials", "server_secrets"}


def test_rotation_moves_every_secret_to_the_new_key(engine: Engine) -> None:
    made = seed(engine, OLD, 5)
    updated = select(credentials.c.id, credentials.c.updated_at)
    with engine.connect() as conn:
        before = conn.execute(updated).all()

    reports = by_table(rotation.rotate(engine, BOTH, batch_size=2))

    assert reports["credentials"] == rotation.TableRotation("credentials", reencrypted=5)
    assert reports["server_secrets"] == rotation.TableRotation("server_secrets", reencrypted=1)
    assert set(key_ids(engine).values()) == {NEW.current_id}
    assert tokens(engine, NEW) == made  # the new key alone decrypts everything
    assert signing_secret(engine, NEW) == SIGNING
    with engine.connect() as conn:
        assert sorted(conn.execute(updated).all()) == sorted(before)  # same secrets

    again = by_table(rotation.rotate(engine, BOTH, batch_size=2))
    assert again["credentials"] == rotation.TableRotation("credentials", current=5)
    assert again["server_secrets"] == rotation.TableRotation("server_secrets", current=1)


def test_an_interrupted_rotation_completes_when_run_again(engine: Engine) -> None:
    made = seed(engine, OLD, 5)
    seen: list[tuple[str, int]] = []

    def crash(report: rotation.TableRotation) -> None:
        seen.append((report.table, report.reencrypted))
        raise Interrupted

    with pytest.raises(Interrupted):
        rotation.rotate(engine, BOTH, batch_size=2, after_batch=crash)

    assert seen == [("credentials", 2)]
    kids = list(key_ids(engine).values())
    assert sorted(kids) == sorted([NEW.current_id] * 2 + [OLD.current_id] * 3)
    assert tokens(engine, BOTH) == made  # half-way, the full ring still reads everything

    reports = by_table(rotation.rotate(engine, BOTH, batch_size=2))
    assert reports["credentials"] == rotation.TableRotation("credentials", reencrypted=3, current=2)
    assert reports["server_secrets"] == rotation.TableRotation("server_secrets", reencrypted=1)
    assert tokens(engine, NEW) == made
    assert signing_secret(engine, NEW) == SIGNING


def test_undecryptable_rows_are_named_and_the_others_still_rotate(engine: Engine) -> None:
    made = seed(engine, OLD, 4)
    stray = seed(engine, STRAY, 1, secret=False)  # a key the ring never had
    tampered = next(iter(made))
    with engine.begin() as conn:
        blob = conn.execute(
            select(credentials.c.ciphertext).where(credentials.c.id == tampered)
        ).scalar_one()
        flipped = blob[:-1] + bytes([blob[-1] ^ 1])
        conn.execute(
            update(credentials).where(credentials.c.id == tampered).values(ciphertext=flipped)
        )
    (stray_id,) = stray

    # Reported again on the next run, never silently passed over.
    for reencrypted, current in [(3, 0), (0, 3)]:
        report = by_table(rotation.rotate(engine, BOTH, batch_size=2))["credentials"]
        assert (report.reencrypted, report.current, report.changed) == (reencrypted, current, 0)
        reasons = {bad.row: bad.reason for bad in report.undecryptable}
        assert set(reasons) == {stray_id, tampered}
        assert f"no key with id {STRAY.current_id}" in reasons[stray_id]
        assert "integrity" in reasons[tampered]
        assert "tok-" not in repr(report)

    kids = key_ids(engine)
    assert kids[stray_id] == STRAY.current_id
    assert kids[tampered] == OLD.current_id
    rotated = {cid: token for cid, token in made.items() if cid != tampered}
    with engine.connect() as conn:
        rows = conn.execute(select(credentials).where(credentials.c.id.in_(rotated))).all()
    assert {row.id: installs.credential_data(NEW, row)["token"] for row in rows} == rotated


def test_a_row_changed_after_it_was_read_is_not_overwritten(engine: Engine) -> None:
    seed(engine, OLD, 0)
    sealed = next(s for s in rotation.SEALED if s.table is server_secrets)
    with engine.connect() as conn:
        stale = conn.execute(
            select(server_secrets.c.name, server_secrets.c.key_id, server_secrets.c.ciphertext)
        ).one()
    # Another writer, still on the old ring, replaces the secret after the read.
    kid, blob = OLD.encrypt(b"written meanwhile", accounts.secret_aad("signing-key"))
    with engine.begin() as conn:
        conn.execute(update(server_secrets).values(key_id=kid, ciphertext=blob))

    report = rotation.TableRotation("server_secrets")
    with engine.begin() as conn:
        rotation._rotate_row(conn, BOTH, sealed, stale, report)

    assert (report.reencrypted, report.changed) == (0, 1)
    assert signing_secret(engine, OLD) == b"written meanwhile"
