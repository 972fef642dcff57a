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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOLDER_", env_nested_delimiter="__")

    database_url: str = Field(
        default="sqlite:///solder.sqlite",
        description="SQLAlchemy URL; default is a SQLite file in the working directory",
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
    log_retention_days: int = Field(default=60, ge=1)
    log_json: bool = False
    engine: EngineSettings = Field(default_factory=EngineSettings)
