"""``solder accounts create|list|delete`` through click, on the store under test."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from solder.cli import main
from solder.security import passwords
from solder.store import dashboard_accounts

PASSWORD = "correct horse battery staple"


def solder(database_url: str, *args: str, stdin: str | None = None) -> Result:
    env = {"SOLDER_DATABASE_URL": database_url}
    return CliRunner().invoke(main, ["accounts", *args], env=env, input=stdin)


def test_accounts_are_made_listed_and_deleted(engine: Engine, database_url: str) -> None:
    made = solder(database_url, "create", "--email", "Ops@Example.com", "--password-stdin",
                  stdin=PASSWORD + "\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "ops@example.com" in made.stdout
    prod = solder(database_url, "create", "--email", "prod@example.com", "--env", "production",
                  "--password-stdin", stdin=PASSWORD)  # fmt: skip
    assert prod.exit_code == 0, prod.output

    with engine.connect() as conn:
        row = dashboard_accounts.by_email(conn, "ops@example.com")
    assert passwords.verify(row.password_hash, PASSWORD)  # the newline is not part of it
    assert dashboard_accounts.environments_of(row) == ["development", "production"]

    listed = solder(database_url, "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [
        ["ops@example.com", "development,production"], ["prod@example.com", "production"],
    ]  # fmt: skip
    assert all(line.endswith("last login never") for line in lines)
    assert PASSWORD not in listed.output
    assert "$argon2" not in listed.output

    again = solder(database_url, "create", "--email", "OPS@example.com", "--password-stdin",
                   stdin=PASSWORD)  # fmt: skip
    assert again.exit_code == 1
    assert "email: an account for ops@example.com exists" in again.stderr

    gone = solder(database_url, "delete", "--email", "ops@example.com")
    assert gone.exit_code == 0, gone.output
    with engine.connect() as conn:
        assert dashboard_accounts.by_email(conn, "ops@example.com") is None
    missing = solder(database_url, "delete", "--email", "ops@example.com")
    assert missing.exit_code == 1
    assert "no account for ops@example.com" in missing.stderr


def test_the_password_is_prompted_twice_when_not_on_stdin(
    engine: Engine, database_url: str
) -> None:
    typed = solder(database_url, "create", "--email", "ops@example.com",
                   stdin=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    assert typed.exit_code == 0, typed.output
    assert PASSWORD not in typed.output  # hidden input is not echoed
    with engine.connect() as conn:
        row = dashboard_accounts.by_email(conn, "ops@example.com")
    assert passwords.verify(row.password_hash, PASSWORD)


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (["--email", "ops@example.com"], "short\n", "password: at least 12 characters"),
        (["--email", "not-an-email"], PASSWORD, "email: expected an email address"),
        (["--email", "ops@example.com", "--env", "staging"], PASSWORD, "--env"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    engine: Engine, database_url: str, args: list[str], stdin: str, words: str
) -> None:
    result = solder(database_url, "create", *args, "--password-stdin", stdin=stdin)
    assert result.exit_code == 2, result.output
    assert words in result.stderr
    assert solder(database_url, "list").stdout == ""
