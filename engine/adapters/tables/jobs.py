"""Background work: the transactional outbox and the record of every job run."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from engine.adapters.tables.base import Base, utcnow


class OutboxMessage(Base):
    """Work to start once the transaction that wrote it commits (DESIGN section 3)."""

    __tablename__ = "outbox"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    #: Whose work this is: the relay serves tenants in turn. Not a foreign key: a lane
    #: for fairness, never joined, and None for work of no tenant's.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column()
    queue_name: Mapped[str] = mapped_column(sa.String(32))
    actor_name: Mapped[str] = mapped_column(sa.String(64))
    args: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Not to be published before this time (capture waits for `cancellable_until`).
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()
    publish_attempts: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        sa.Index(
            "ix_outbox_due",
            "available_at",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        ),
        #: The relay's round-robin: a queue's due rows in (tenant, age) order.
        sa.Index(
            "ix_outbox_fair",
            "queue_name",
            "tenant_id",
            "available_at",
            "id",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        ),
    )


class JobRun(Base):
    """One run of one actor on one message: what an admin reads to find and replay failures."""

    __tablename__ = "job_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    actor_name: Mapped[str] = mapped_column(sa.String(64))
    queue_name: Mapped[str] = mapped_column(sa.String(32))
    message_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempt: Mapped[int] = mapped_column(default=1)
    outcome: Mapped[str] = mapped_column(sa.String(16), default="running")
    error: Mapped[str | None] = mapped_column(sa.Text)
    traceback: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    replayed_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        sa.Index("ix_job_runs_outcome_actor", "outcome", "actor_name"),
        sa.CheckConstraint(
            "outcome IN ('running', 'succeeded', 'retrying', 'failed', 'skipped')",
            name="outcome",
        ),
    )
