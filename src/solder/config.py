"""One settings tree, read once at start and passed down.

Environment names come from the field path: ``SOLDER_DATABASE_URL``, ``SOLDER_PUBLIC_URL``,
``SOLDER_ENGINE__WORKERS`` and so on. Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EngineSettings(BaseModel):
    workers: int = Field(default=4, ge=1, le=64, description="worker threads in this process")
    poll_interval: float = Field(default=0.5, gt=0, description="seconds between idle polls")
    lease_seconds: float = Field(default=30.0, gt=0, description="how long a claim lasts")
    max_attempts: int = Field(default=5, ge=1, description="attempts per block before failing")
    backoff_base: float = Field(default=1.0, gt=0, description="first retry delay, seconds")
    backoff_max: float = Field(default=300.0, gt=0, description="longest retry delay, seconds")
    http_timeout: float = Field(default=30.0, gt=0, description="outbound request timeout")
    code_timeout_ms: int = Field(default=1000, ge=1, description="time limit of a code block")
    code_memory_mb: int = Field(default=32, ge=1, description="memory limit of a code block")
    iterate_max: int = Field(default=1000, ge=1, description="most items an iterate block runs")
    reconcile_every: float = Field(
        default=3600.0, gt=0, description="seconds between checks of apps' webhooks"
    )
    max_claims: int = Field(
        default=100,
        ge=2,
        description="a run taken this many times without finishing (each crash, retry and "
        "delay takes it again) fails as a poison run",
    )
    background: bool = Field(
        default=True,
        description="fire schedules, run polls and deliver the error stream in this process "
        "(safe in any number of processes at once)",
    )


class OAuthClientSettings(BaseModel):
    """The ISV's OAuth client at one app: its id and secret, and where the app's OAuth pages
    are when they are not where the app declares them (a sandbox, a regional host)."""

    client_id: str
    client_secret: SecretStr
    authorize_url: str | None = None
    token_url: str | None = None


class EgressSettings(BaseModel):
    """Where blocks may send requests whose URL an end user or a mapping supplies.

    Loopback, private, link-local, carrier-grade NAT and cloud metadata addresses are refused
    unless a host name or a network listed here allows them.
    """

    allow_hosts: list[str] = Field(
        default_factory=list,
        description='host names allowed whatever they resolve to: "receiver.internal", '
        'or "*.corp.example" for any subdomain',
    )
    allow_networks: list[str] = Field(
        default_factory=list, description='address ranges allowed, e.g. ["127.0.0.1/32"]'
    )


class LoginSettings(BaseModel):
    """How many failed dashboard logins are allowed before the next are refused (429).

    Counted per account email and per client address, in each API process, over a window.
    """

    failures_per_account: int = Field(default=5, ge=1, le=1000)
    failures_per_address: int = Field(default=20, ge=1, le=100_000)
    window_seconds: int = Field(default=900, ge=1, le=86_400)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOLDER_", env_nested_delimiter="__")

    database_url: str = Field(
        default="sqlite:///solder.sqlite",
        description="SQLAlchemy URL; default is a SQLite file in the working directory",
    )
    broker_url: SecretStr | None = Field(
        default=None,
        description="the scaled-out tier's broker (amqp://... or redis://...); when set, "
        "solder serve runs the API only and solder worker processes run the workflows",
    )
    database_pool_size: int = Field(
        default=10,
        ge=1,
        le=200,
        description="database connections per process (and as many "
        "again for bursts); keep it above engine.workers",
    )
    broker_queue: str = Field(
        default="solder.runs",
        min_length=1,
        max_length=200,
        description="the broker queue runs are sent to (one per deployment sharing a broker)",
    )
    public_url: str | None = Field(
        default=None,
        description="base URL apps use to reach this server (webhooks); default http://host:port",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="base64 of 32 bytes: encrypts credentials and signs user tokens; "
        "when unset, a key file beside the SQLite database is made and used",
    )
    key_file: Path = Field(default=Path("solder.key"))
    app_base_urls: dict[str, str] = Field(
        default_factory=dict,
        description='per-app API base URL overrides, e.g. {"bigcommerce": "http://127.0.0.1:9001"}',
    )
    oauth_clients: dict[str, OAuthClientSettings] = Field(
        default_factory=dict,
        description="per-app OAuth clients, e.g. "
        '{"slack": {"client_id": "...", "client_secret": "..."}}; an app with OAuth2 auth '
        "can be connected only when its client is set",
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        description="the signing secret of the ISV's Slack app (Basic Information in Slack's app "
        "settings): checks the events Slack posts to /hooks/slack/events; unset, that URL is 404",
    )
    sql_connections: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="databases SQL blocks may write to, by name: "
        '{"warehouse": "postgresql://user:password@host/db"}; blocks name them in '
        "inputs.connection, so passwords stay out of workflow definitions",
    )
    destination_connections: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="event buses, warehouses and cloud services destination blocks may send "
        'to, by name: {"bus": "amqp://user:password@host:5672/"}; blocks name them in '
        "inputs.connection, so secrets stay out of workflow definitions",
    )
    log_retention_days: int = Field(default=60, ge=1)
    install_link_days: int = Field(
        default=7, ge=1, le=90, description="how long a hosted install link lasts by default"
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="largest request body accepted (events too)"
    )
    log_json: bool = False
    engine: EngineSettings = Field(default_factory=EngineSettings)
    egress: EgressSettings = Field(default_factory=EgressSettings)
    login: LoginSettings = Field(default_factory=LoginSettings)
