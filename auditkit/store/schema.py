"""Tables of the audit store (SQLAlchemy Core). Bump SCHEMA_VERSION with every change."""
from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, CheckConstraint, Column, ForeignKey, Index, Integer, MetaData, String,
                        Table, Text)

SCHEMA_VERSION = 2  # 2: trail entries sealed with the trail key (HMAC-SHA256) and holding the rows they wrote

metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

audits = Table(
    "audits", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("created", String(40), nullable=False),
    Column("updated", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("runner", String(300), nullable=False),
    CheckConstraint("status IN ('pending', 'done', 'failed')", name="audit_status"),
    Index("ix_audits_created", "created"),
    Index("ix_audits_status", "status"),
)

inputs = Table(
    "inputs", metadata,
    Column("audit_id", String(32), ForeignKey("audits.id"), primary_key=True),
    Column("data_sha256", String(64)),
    Column("model_sha256", String(64)),
    Column("columns", JSON, nullable=False),
)

results = Table(
    "results", metadata,
    Column("audit_id", String(32), ForeignKey("audits.id"), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("audit_json", Text, nullable=False),
)

artifacts = Table(
    "artifacts", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("path", String(200), nullable=False),
    Column("created", String(40), nullable=False),
)

audit_artifacts = Table(
    "audit_artifacts", metadata,
    Column("audit_id", String(32), ForeignKey("audits.id"), primary_key=True),
    Column("sha256", String(64), ForeignKey("artifacts.sha256"), primary_key=True),
    Column("kind", String(64), primary_key=True),
    Column("name", String(300), nullable=False),
)

signoffs = Table(
    "signoffs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("audit_id", String(32), ForeignKey("audits.id"), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created", String(40), nullable=False),
    Column("event_seq", Integer, nullable=False),
    CheckConstraint("decision IN ('approve', 'reject')", name="signoff_decision"),
    Index("ix_signoffs_audit", "audit_id"),
)

events = Table(
    "events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("created", String(40), nullable=False),
    Column("audit_id", String(32)),
    Column("kind", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    Column("rows", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_events_audit", "audit_id"),
)
