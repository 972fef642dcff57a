"""The ``solder`` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from solder.config import Settings
from solder.errors import SolderError


@click.group()
def main() -> None:
    """Solder: a self-hostable embedded integration platform."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-workers", is_flag=True, help="serve the API only (workers run elsewhere)")
def serve(host: str, port: int, no_workers: bool) -> None:
    """Run the API, and the workers too unless SOLDER_BROKER_URL sends runs to solder worker."""
    from solder.runtime.server import serve as run_server

    run_server(Settings(), host, port, workers=not no_workers)


@main.command()
@click.option("--concurrency", type=int, default=None, help="threads running workflows")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    envvar="SOLDER_WORKER_METRICS_PORT",
    help="serve this worker's Prometheus metrics at http://HOST:PORT/metrics",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    envvar="SOLDER_WORKER_METRICS_HOST",
    help="address the metrics port listens on (0.0.0.0 for a scraper on another machine)",
)
def worker(concurrency: int | None, metrics_port: int | None, metrics_host: str) -> None:
    """Run workflows from the broker (scaled-out tier: needs SOLDER_BROKER_URL)."""
    from solder.runtime.distributed import run_worker

    metrics = (metrics_host, metrics_port) if metrics_port is not None else None
    run_worker(Settings(), concurrency=concurrency, metrics=metrics)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations."""
    from solder.store import migrate
    from solder.store.db import make_engine

    engine = make_engine(Settings().database_url)
    migrate.upgrade(engine)
    engine.dispose()
    click.echo("database is at the newest schema")


@main.group()
def keys() -> None:
    """API keys and the key ring of secrets at rest."""


@keys.command("create")
@click.option(
    "--env", "environment", type=click.Choice(["development", "production"]), required=True
)
def keys_create(environment: str) -> None:
    """Make a new API key; the last line printed is the key alone (shown only this once)."""
    from solder.store import accounts, migrate
    from solder.store.db import make_engine

    engine = make_engine(Settings().database_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        key = accounts.create_key(conn, environment)  # type: ignore[arg-type]
    engine.dispose()
    click.echo(f"new {environment} API key (store it now: it is not shown again):", err=True)
    click.echo(key)


@keys.command("rotate-encryption")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=200,
    show_default=True,
    help="rows re-encrypted per transaction",
)
def keys_rotate_encryption(batch_size: int) -> None:
    """Re-encrypt every stored secret under the first key of the ring (safe to run again).

    Put the new key first in SOLDER_SECRET_KEY on every process, run this, then drop the old
    key. Exits 1 when a secret could not be decrypted by any key of the ring.
    """
    from solder.runtime.services import key_ring
    from solder.security.crypto import KeyRingError
    from solder.store import migrate, rotation
    from solder.store.db import make_engine

    settings = Settings()
    if settings.secret_key is None and not settings.key_file.exists():
        # key_ring() would make a fresh key here, under which nothing stored decrypts.
        raise click.UsageError(
            f"no key ring: SOLDER_SECRET_KEY is unset and {settings.key_file} does not exist"
        )
    try:
        ring = key_ring(settings)
    except KeyRingError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"current key {ring.current_id}; keys in the ring: {len(ring.keys)}")

    def progress(report: rotation.TableRotation) -> None:
        click.echo(f"{report.table}: {report.reencrypted} re-encrypted so far", err=True)

    engine = make_engine(settings.database_url)
    try:
        migrate.upgrade(engine)
        reports = rotation.rotate(engine, ring, batch_size=batch_size, after_batch=progress)
    finally:
        engine.dispose()
    for report in reports:
        click.echo(
            f"{report.table}: {report.reencrypted} re-encrypted, {report.current} already "
            f"current, {len(report.undecryptable)} undecryptable, {report.changed} changed "
            "by another writer meanwhile"
        )
        for bad in report.undecryptable:
            click.echo(f"{report.table} {bad.row}: not decryptable: {bad.reason}", err=True)
    if any(report.changed for report in reports):
        click.echo("rows changed meanwhile were left as they are: run this again", err=True)
    if any(report.undecryptable for report in reports):
        click.echo(
            "some secrets are under no key of the ring: keep the old keys until they are "
            "found or those rows are deleted",
            err=True,
        )
        sys.exit(1)


@main.group()
def accounts() -> None:
    """Dashboard accounts: an email and a password logging in to the dashboard (ADR 0014)."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@accounts.command("create")
@click.option("--email", required=True, help="the address the account logs in with")
@click.option(
    "--env",
    "environments",
    type=click.Choice(["development", "production"]),
    multiple=True,
    help="an environment it may see (repeat for both); default both",
)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def accounts_create(email: str, environments: tuple[str, ...], password_stdin: bool) -> None:
    """Make an account; the password is asked for (twice) or read from standard input."""
    from solder.security import passwords
    from solder.store import dashboard_accounts, migrate
    from solder.store.db import make_engine

    try:
        email = dashboard_accounts.normal_email(email)
        hashed = passwords.hash_password(_password(password_stdin))
    except SolderError as exc:
        raise click.BadParameter(exc.message) from exc
    engine = make_engine(Settings().database_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            dashboard_accounts.create(
                conn, email, hashed, environments or ("development", "production")
            )
    except SolderError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        engine.dispose()
    click.echo(f"account {email} made ({', '.join(environments or ('development', 'production'))})")


@accounts.command("list")
def accounts_list() -> None:
    """Each account: email, environments, when made, last login (never the password)."""
    from solder.store import dashboard_accounts, migrate
    from solder.store.db import make_engine

    engine = make_engine(Settings().database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            rows = dashboard_accounts.list_all(conn)
    finally:
        engine.dispose()
    for row in rows:
        last = row.last_login_at.isoformat(timespec="seconds") if row.last_login_at else "never"
        click.echo(
            f"{row.email}\t{row.environments}\tmade {row.created_at.isoformat(timespec='seconds')}"
            f"\tlast login {last}"
        )
    if not rows:
        click.echo("no accounts", err=True)


@accounts.command("delete")
@click.option("--email", required=True)
def accounts_delete(email: str) -> None:
    """Delete an account; its open dashboard sessions stop working at once."""
    from solder.store import dashboard_accounts, migrate
    from solder.store.db import make_engine

    engine = make_engine(Settings().database_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            gone = dashboard_accounts.delete_(conn, email)
    finally:
        engine.dispose()
    if not gone:
        raise click.ClickException(f"email: no account for {email.strip().lower()}")
    click.echo(f"account {email.strip().lower()} deleted")


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--release", is_flag=True, help="release every workflow whose draft changed")
def push(path: Path, release: bool) -> None:
    """Send integration and event files to the server at SOLDER_URL with SOLDER_API_KEY."""
    import httpx2

    from solder.client import ConnectionFailed
    from solder.push import push as do_push

    url = os.environ.get("SOLDER_URL", "http://127.0.0.1:8000")
    key = os.environ.get("SOLDER_API_KEY")
    if not key:
        raise click.UsageError("SOLDER_API_KEY is not set")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx2.Client(base_url=url, headers=headers, timeout=30) as client:
        try:
            report = do_push(client, path, release=release)
        except SolderError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)
        except ConnectionFailed as exc:
            click.echo(f"error: cannot reach {url}: {exc.message}", err=True)
            sys.exit(1)
    for line in report.lines:
        click.echo(line)


@main.group()
def sandbox() -> None:
    """Local stand-ins for third-party apps (for tests and the demo)."""


@sandbox.command("bigcommerce")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9001, show_default=True, type=int)
@click.option("--store-hash", default="sandbox1", show_default=True)
@click.option("--token", "access_token", default="sandbox-token", show_default=True)
def sandbox_bigcommerce(host: str, port: int, store_hash: str, access_token: str) -> None:
    """A BigCommerce store: v2 orders and statuses, v3 hooks, real webhook callbacks."""
    from solder.sandbox import bigcommerce

    bigcommerce.serve(host, port, store_hash, access_token)


@sandbox.command("shopify")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9003, show_default=True, type=int)
@click.option("--shop", "domain", default="sandbox.myshopify.com", show_default=True)
@click.option("--token", "access_token", default="shpat_sandbox", show_default=True)
@click.option("--client-id", default="sandbox-client", show_default=True)
@click.option("--client-secret", default="sandbox-secret", show_default=True)
def sandbox_shopify(
    host: str, port: int, domain: str, access_token: str, client_id: str, client_secret: str
) -> None:
    """A Shopify store: Admin REST orders, customers, products, signed webhooks, OAuth."""
    from solder.sandbox import shopify

    shopify.serve(host, port, domain, access_token, client_id, client_secret)


@sandbox.command("hubspot")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9004, show_default=True, type=int)
@click.option("--client-id", default="sandbox-client", show_default=True)
@click.option("--client-secret", default="sandbox-secret", show_default=True)
@click.option("--token-lifetime", default=1800.0, show_default=True, type=float)
@click.option("--private-app-token", default=None, help="a token that never expires")
def sandbox_hubspot(
    host: str,
    port: int,
    client_id: str,
    client_secret: str,
    token_lifetime: float,
    private_app_token: str | None,
) -> None:
    """A HubSpot account: CRM v3 contacts and deals, search, OAuth with expiring tokens."""
    from solder.sandbox import hubspot

    hubspot.serve(
        host,
        port,
        client_id,
        client_secret,
        token_lifetime=token_lifetime,
        private_app_token=private_app_token,
    )


@sandbox.command("oauth2")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9005, show_default=True, type=int)
@click.option("--client-id", default="sandbox-client", show_default=True)
@click.option("--client-secret", default="sandbox-secret", show_default=True)
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    default=["http://127.0.0.1:8000/oauth/callback"],
    show_default=True,
)
@click.option("--require-pkce/--no-require-pkce", default=True, show_default=True)
@click.option("--token-lifetime", default=3600.0, show_default=True, type=float)
@click.option("--rotate-refresh-tokens", is_flag=True)
def sandbox_oauth2(
    host: str,
    port: int,
    client_id: str,
    client_secret: str,
    redirect_uris: tuple[str, ...],
    require_pkce: bool,
    token_lifetime: float,
    rotate_refresh_tokens: bool,
) -> None:
    """A generic OAuth 2.0 provider: code + PKCE, refresh, client credentials, a tiny API."""
    from solder.sandbox import oauth2

    client = oauth2.Client(client_id, client_secret, redirect_uris)
    oauth2.serve(
        host,
        port,
        client,
        require_pkce=require_pkce,
        token_lifetime=token_lifetime,
        rotate_refresh=rotate_refresh_tokens,
    )


@sandbox.command("slack")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9006, show_default=True, type=int)
@click.option("--bot-token", default="xoxb-sandbox-token", show_default=True)
@click.option("--signing-secret", default="sandbox-signing-secret", show_default=True)
@click.option("--client-id", default="1111.2222", show_default=True)
@click.option("--client-secret", default="sandbox-client-secret", show_default=True)
@click.option("--request-url", default=None, help="where to POST Events API callbacks")
def sandbox_slack(
    host: str,
    port: int,
    bot_token: str,
    signing_secret: str,
    client_id: str,
    client_secret: str,
    request_url: str | None,
) -> None:
    """A Slack workspace: Web API methods, OAuth v2, signed Events API callbacks."""
    from solder.sandbox import slack

    slack.serve(
        host,
        port,
        bot_token,
        signing_secret,
        client_id=client_id,
        client_secret=client_secret,
        request_url=request_url,
    )


@sandbox.command("stripe")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9007, show_default=True, type=int)
@click.option("--api-key", default="sk_test_sandbox", show_default=True)
def sandbox_stripe(host: str, port: int, api_key: str) -> None:
    """A Stripe test-mode account: customers, invoices, webhook endpoints, signed events."""
    from solder.sandbox import stripe

    stripe.serve(host, port, api_key)


@sandbox.command("receiver")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9002, show_default=True, type=int)
@click.option("--public-key-url", default=None, help="Solder's /signing-key, to verify requests")
def sandbox_receiver(host: str, port: int, public_key_url: str | None) -> None:
    """An ISV endpoint that records what Stream Data sends it."""
    from solder.sandbox import receiver

    receiver.serve(host, port, public_key_url)


@main.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=Path(".demo"))
@click.option(
    "--examples",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="the quick-start definitions (default: examples/quickstart here)",
)
@click.option("--database-url", default=None, help="an empty database (default: a fresh SQLite)")
def demo(workdir: Path, examples: Path | None, database_url: str | None) -> None:
    """Run the quick-start scenario end to end on a fresh SQLite file."""
    from solder.demo import run_demo

    sys.exit(run_demo(workdir, examples, database_url))
