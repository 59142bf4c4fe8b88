"""Platform tables: tenants, API keys, usage, audit log, custom apps (SQLAlchemy Core on the shared metadata)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hanlin.store.db import metadata, migration

tenants_table = sa.Table(
    "tenants", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("rpm", sa.Integer, nullable=True),             # requests per minute (None = unlimited)
    sa.Column("tpm", sa.Integer, nullable=True),             # tokens per minute
    sa.Column("monthly_tokens", sa.BigInteger, nullable=True),  # token budget per calendar month (UTC)
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

api_keys_table = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("prefix", sa.String(32), nullable=False, unique=True),  # visible part, used for lookup
    sa.Column("secret_hash", sa.String(64), nullable=False),          # sha256 of the whole key
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("scopes", sa.Text, nullable=True),                      # JSON list; empty = everything
    sa.Column("rpm", sa.Integer, nullable=True),
    sa.Column("tpm", sa.Integer, nullable=True),
    sa.Column("monthly_tokens", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("revoked_at", sa.Float, nullable=True),
    sa.Column("last_used_at", sa.Float, nullable=True),
)

usage_table = sa.Table(
    "usage_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("day", sa.String(10), nullable=False),  # UTC YYYY-MM-DD, for grouping without SQL date functions
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(40), nullable=True),
    sa.Column("route", sa.String(120), nullable=False, default="chat"),
    sa.Column("model", sa.String(200), nullable=False, default=""),
    sa.Column("app", sa.String(200), nullable=True),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("completion_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("total_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("latency_ms", sa.Integer, nullable=False, default=0),
    sa.Column("status", sa.String(32), nullable=False, default="ok"),
    sa.Column("pages", sa.Integer, nullable=False, default=0, server_default="0"),  # pages OCR'd
    sa.Column("audio_seconds", sa.Float, nullable=False, default=0.0, server_default="0"),  # speech, metered by time
    sa.Index("ix_usage_tenant_time", "tenant_id", "created_at"),
)


@migration("usage_events.pages")
def _usage_pages(conn: Connection) -> None:
    """Databases made before OCR metering: add the pages column."""
    if "pages" not in {c["name"] for c in sa.inspect(conn).get_columns("usage_events")}:
        conn.execute(sa.text("ALTER TABLE usage_events ADD COLUMN pages INTEGER NOT NULL DEFAULT 0"))


@migration("usage_events.audio_seconds")
def _usage_audio_seconds(conn: Connection) -> None:
    """Databases made before speech recognition get the column (new ones have it from create_all)."""
    if "audio_seconds" not in {c["name"] for c in sa.inspect(conn).get_columns("usage_events")}:
        conn.execute(sa.text("ALTER TABLE usage_events ADD COLUMN audio_seconds FLOAT NOT NULL DEFAULT 0"))

audit_table = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("tenant_id", sa.String(64), nullable=True, index=True),  # the tenant the action touched
    sa.Column("actor", sa.String(120), nullable=False),                # key id, "env-admin" or "cli:<user>"
    sa.Column("action", sa.String(64), nullable=False),                # e.g. key.create, tenant.quota
    sa.Column("target", sa.String(200), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),                       # JSON, never secrets
)

custom_apps_table = sa.Table(
    "custom_apps", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("base_model", sa.String(200), nullable=True),  # None = the server's default model
    sa.Column("system_prompt", sa.Text, nullable=False, default=""),
    sa.Column("params", sa.Text, nullable=True),          # JSON: temperature, top_p, max_tokens...
    sa.Column("knowledge_base", sa.String(200), nullable=True),
    sa.Column("output_schema", sa.Text, nullable=True),   # JSON Schema; output is grammar-constrained to it
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.UniqueConstraint("tenant_id", "name", "version", name="uq_custom_app_version"),
)
