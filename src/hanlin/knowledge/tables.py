"""Catalog tables: knowledge bases, their documents and chunks (the DB is the commit point of every change)."""

from __future__ import annotations

import sqlalchemy as sa

from hanlin.store.db import metadata

kb_bases = sa.Table(
    "kb_bases", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.String(200), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("generation", sa.Integer, nullable=False, default=0),  # bumped by every committed change
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("tenant_id", "name", name="uq_kb_tenant_name"),
)

kb_documents = sa.Table(
    "kb_documents", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kb_id", sa.String(32), sa.ForeignKey("kb_bases.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("size", sa.Integer, nullable=False, default=0),
    sa.Column("sha256", sa.String(64), nullable=False, default=""),
    sa.Column("n_chunks", sa.Integer, nullable=False, default=0),
    sa.Column("meta", sa.Text, nullable=True),  # JSON: user metadata (filters) + extraction facts
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("kb_id", "name", name="uq_kb_doc_name"),
)

kb_chunks = sa.Table(
    "kb_chunks", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("doc_id", sa.String(32), sa.ForeignKey("kb_documents.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("kb_id", sa.String(32), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),  # order in the document = row in its embedding segment
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("heading", sa.Text, nullable=False, default=""),
    sa.Column("tokens", sa.Text, nullable=False, default=""),  # jieba tokens, space-joined (BM25 rebuilds)
    sa.Column("kind", sa.String(16), nullable=False, default="text"),
    sa.Column("start", sa.Integer, nullable=False, default=0),  # span in the document's source text
    sa.Column("end", sa.Integer, nullable=False, default=0),
    sa.Column("page", sa.Integer, nullable=True),
    sa.Column("meta", sa.Text, nullable=True),
)
