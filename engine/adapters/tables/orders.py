"""Orders and their recipients (one letter each)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.adapters.tables.base import Base, utcnow
from engine.domain.statuses import RecipientStatus


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id"))
    mode: Mapped[str] = mapped_column(sa.String(8))
    status: Mapped[str] = mapped_column(sa.String(20))
    stage: Mapped[str] = mapped_column(sa.String(32))
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    message_body: Mapped[str] = mapped_column(sa.Text)
    product_type: Mapped[str] = mapped_column(sa.String(16))
    paper_type: Mapped[str] = mapped_column(sa.String(16))
    envelope_type: Mapped[str] = mapped_column(sa.String(16))
    mailing_option: Mapped[str | None] = mapped_column(sa.String(16))
    font_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("fonts.id"))
    authenticity_preset: Mapped[str | None] = mapped_column(sa.String(32))
    return_address: Mapped[dict[str, Any] | None] = mapped_column()
    skip_invalid: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(sa.String(32), default="partner_api")
    letter_count: Mapped[int] = mapped_column()
    total_cents: Mapped[int] = mapped_column(sa.BigInteger)
    cost_breakdown: Mapped[dict[str, Any]] = mapped_column()
    send_date: Mapped[datetime | None] = mapped_column()
    cancellable_until: Mapped[datetime] = mapped_column()
    #: Why it failed, for machines: one of `reasons.ORDER_FAILURE_CODES`.
    failure_code: Mapped[str | None] = mapped_column(sa.String(40))
    #: Why it failed, as a sentence for the partner (never exception text).
    failure_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: Stage that failed, so a replay resumes there.
    failed_stage: Mapped[str | None] = mapped_column(sa.String(32))
    #: How many times the sweeper re-enqueued the current stage.
    stage_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Bumped when a failed order is re-opened, so its new hold gets its own ledger key.
    hold_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column()
    confirmed_at: Mapped[datetime | None] = mapped_column()
    failed_at: Mapped[datetime | None] = mapped_column()
    #: The partner's own string pairs, echoed back (`metadata` is taken on a declarative class).
    order_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    #: The partner's own id, unique per tenant and mode when given.
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    #: Every recipient given, skipped ones included (`letter_count` counts the letters sent).
    recipient_count: Mapped[int | None] = mapped_column()

    recipients: Mapped[list[Recipient]] = relationship(
        back_populates="order", order_by="Recipient.position", lazy="raise"
    )

    __table_args__ = (
        sa.Index("ix_orders_tenant_mode_created", "tenant_id", "mode", "created_at"),
        sa.Index("ix_orders_status_stage", "status", "stage"),
        sa.Index(
            "ux_orders_external_id",
            "tenant_id",
            "mode",
            "external_id",
            unique=True,
            postgresql_where=sa.text("external_id IS NOT NULL"),
            sqlite_where=sa.text("external_id IS NOT NULL"),
        ),
        sa.CheckConstraint("total_cents >= 0", name="total_not_negative"),
        sa.CheckConstraint("letter_count >= 0", name="letter_count_not_negative"),
        sa.CheckConstraint(
            "status IN ('draft', 'pending_payment', 'pending', 'processing', 'completed', "
            "'shipped', 'cancelled', 'failed', 'expired')",
            name="status",
        ),
    )


class Recipient(Base):
    __tablename__ = "recipients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    position: Mapped[int] = mapped_column()
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    address_line1: Mapped[str | None] = mapped_column(sa.String(255))
    address_line2: Mapped[str | None] = mapped_column(sa.String(255))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    state: Mapped[str | None] = mapped_column(sa.String(100))
    zip: Mapped[str | None] = mapped_column(sa.String(20))
    country: Mapped[str] = mapped_column(sa.String(2), default="US")
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default=RecipientStatus.PENDING)
    invalid_reason: Mapped[str | None] = mapped_column(sa.Text)
    pdf_path: Mapped[str | None] = mapped_column(sa.String(500))
    tracking_number: Mapped[str | None] = mapped_column(sa.String(64))
    mailed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="recipients", lazy="raise")

    __table_args__ = (sa.UniqueConstraint("order_id", "position"),)
