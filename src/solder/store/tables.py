"""The schema. Migrations in ``migrations/versions`` must produce exactly this."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from solder.store.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(32)
ENV = String(16)


def _id() -> Column[str]:
    return Column("id", ID, primary_key=True)


def _fk(name: str, target: str, *, nullable: bool = False) -> Column[str]:
    return Column(name, ID, ForeignKey(f"{target}.id", ondelete="CASCADE"), nullable=nullable)


api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
)

server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("key_id", String(32), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    Column("username", String(255), nullable=False),
    Column("full_name", String(255)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("environment", "username"),
)

custom_events = Table(
    "custom_events",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text),
    Column("body", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("environment", "name"),
)

integrations = Table(
    "integrations",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    Column("key", String(128), nullable=False),
    Column("app", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("icon", String(1024)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("environment", "key"),
)

workflows = Table(
    "workflows",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    _fk("integration_id", "integrations"),
    Column("key", String(128), nullable=False),
    Column("name", String(512), nullable=False),
    Column("draft", JSON, nullable=False),
    Column("draft_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("integration_id", "key"),
)

workflow_versions = Table(
    "workflow_versions",
    metadata,
    _id(),
    _fk("workflow_id", "workflows"),
    Column("number", Integer, nullable=False),
    Column("definition", JSON, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("released_at", UTCDateTime(), nullable=False),
    Column("note", Text, nullable=True),
    UniqueConstraint("workflow_id", "number"),
)

workflow_tests = Table(
    "workflow_tests",
    metadata,
    Column(
        "workflow_id",
        ID,
        ForeignKey("workflows.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("result", JSON, nullable=False),
    Column("tested_at", UTCDateTime(), nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    _fk("user_id", "users"),
    Column("app", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),  # an OAuth2 access token's expiry
    Column("refresh_until", UTCDateTime(), nullable=True),  # one refresher's lease
    Column("status", String(32), nullable=False, server_default="connected"),
    Column("paused_until", UTCDateTime(), nullable=True),  # the app said 429 until then
    Column("rate_tat", UTCDateTime(), nullable=True),  # the next call's slot in the app's rate
    Index(None, "user_id"),
)

installations = Table(
    "installations",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    _fk("user_id", "users"),
    _fk("integration_id", "integrations"),
    Column("credential_ids", JSON, nullable=False),
    Column("workflow_ids", JSON, nullable=False),
    Column("form_data", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("installed_at", UTCDateTime()),
    Column("version_ids", JSON),  # {workflowId: versionId} asked for; the rest get the newest
    Column("output_override", JSON),  # the SDK's outputOverride, checked
    Index(None, "user_id"),
)

install_links = Table(
    "install_links",
    metadata,
    _id(),  # the link token's ``jti``
    Column("environment", ENV, nullable=False),
    _fk("user_id", "users"),
    _fk("integration_id", "integrations"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    Column("installation_id", ID),
)

workflow_installs = Table(
    "workflow_installs",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    _fk("installation_id", "installations"),
    _fk("user_id", "users"),
    _fk("workflow_id", "workflows"),
    _fk("version_id", "workflow_versions"),
    Column("config", JSON, nullable=False),
    Column("credential_ids", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("state", JSON, nullable=False),
    Column("trigger_key", String(255), nullable=False),
    Column("installed_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("output_override", JSON),  # where its Stream Data goes instead (solder.web.output)
    UniqueConstraint("user_id", "workflow_id"),
    Index(None, "environment", "trigger_key", "active"),
    Index(None, "user_id", "trigger_key"),  # the copies one user's event starts
)

events = Table(
    "events",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE")),
    Column("workflow_install_id", ID, ForeignKey("workflow_installs.id", ondelete="SET NULL")),
    Column("dedupe_key", String(255)),
    Column("payload", JSON, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    UniqueConstraint("environment", "dedupe_key"),
    Index(None, "user_id"),
)

runs = Table(
    "runs",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    _fk("event_id", "events"),
    Column("workflow_install_id", ID, ForeignKey("workflow_installs.id", ondelete="SET NULL")),
    _fk("workflow_id", "workflows"),
    _fk("user_id", "users"),
    _fk("version_id", "workflow_versions"),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", UTCDateTime()),
    Column("fence", Integer, nullable=False, default=0),
    Column("error", JSON),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime()),
    Column("finished_at", UTCDateTime()),
    Index(None, "status", "next_attempt_at"),
    Index(None, "workflow_id", "user_id", "created_at"),
    Index(None, "user_id"),
    Index(None, "environment", "created_at", "id"),  # the explorer's newest page
    Index(None, "environment", "status", "created_at", "id"),  # ... of one status
)

block_results = Table(
    "block_results",
    metadata,
    _id(),
    _fk("run_id", "runs"),
    Column("block_id", String(64), nullable=False),
    Column("block_name", String(255), nullable=False),
    Column("block_type", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("input", JSON),
    Column("output", JSON),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    UniqueConstraint("run_id", "block_id"),
)

trigger_states = Table(
    "trigger_states",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    _fk("user_id", "users"),
    _fk("workflow_id", "workflows"),
    Column("workflow_install_id", ID, ForeignKey("workflow_installs.id", ondelete="SET NULL")),
    Column("kind", String(16), nullable=False),
    Column("next_at", UTCDateTime()),
    Column("cursor", JSON),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("user_id", "workflow_id"),
    Index(None, "next_at"),
)
"""Schedules and polling cursors, one per user and workflow so they outlive upgrades,
re-releases and reinstalls; ``next_at`` is when the trigger is due (null while inactive)."""

environment_settings = Table(
    "environment_settings",
    metadata,
    Column("environment", ENV, primary_key=True),
    Column("settings", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    _id(),
    Column("environment", ENV, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE")),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE")),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Index(None, "status", "next_attempt_at"),
)
"""Notices to the ISV (failed runs for the error stream), delivered with retries."""
