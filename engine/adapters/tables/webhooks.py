"""Events and how they reach partners: endpoints, deliveries, attempts and manual sends."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from engine.adapters.tables.base import Base, JSONType, utcnow
from engine.domain.statuses import DeliveryStatus


class Event(Base):
    """Something a partner may subscribe to; `seq` orders the events feed."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id"))
    mode: Mapped[str] = mapped_column(sa.String(8))
    type: Mapped[str] = mapped_column(sa.String(40))
    order_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    #: Unique per happening (e.g. `order:{id}:confirmed`): a replayed stage records it once.
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set once the event has been turned into deliveries; NULL rows are swept.
    fanned_out_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (sa.Index("ix_events_tenant_mode_seq", "tenant_id", "mode", "seq"),)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id"), index=True)
    mode: Mapped[str] = mapped_column(sa.String(8))
    url: Mapped[str] = mapped_column(sa.String(2000))
    events: Mapped[list[str]] = mapped_column(JSONType)
    secret: Mapped[str] = mapped_column(sa.String(100))
    #: The secret before the last rotation; also signs until `previous_secret_expires_at`.
    previous_secret: Mapped[str | None] = mapped_column(sa.String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column()
    is_active: Mapped[bool] = mapped_column(default=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    deactivated_reason: Mapped[str | None] = mapped_column(sa.String(200))
    last_triggered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event to one endpoint; one stable `webhook-id` across all its attempts."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("webhook_endpoints.id"), index=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("events.id"), index=True)
    event_type: Mapped[str] = mapped_column(sa.String(40))
    #: Unique: `{event_id}:{endpoint_id}` for the fan-out, another key for each manual resend.
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    #: A worker sending an attempt holds the delivery until then; no one else sends it.
    lease_until: Mapped[datetime | None] = mapped_column()
    #: Set for a manual resend: the delivery it repeats.
    resend_of: Mapped[uuid.UUID | None] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        sa.CheckConstraint(
            "status IN ('pending', 'retrying', 'succeeded', 'failed', 'cancelled')",
            name="status",
        ),
    )


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("webhook_deliveries.id"), index=True
    )
    number: Mapped[int] = mapped_column()
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column()
    latency_ms: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.UniqueConstraint("delivery_id", "number"),)


class WebhookManualSend(Base):
    """One manual send to an endpoint (a retry of a failed delivery or a resend of an
    event): an endpoint's hourly allowance counts these rows."""

    __tablename__ = "webhook_manual_sends"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("webhook_endpoints.id"))
    delivery_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("webhook_deliveries.id"))
    kind: Mapped[str] = mapped_column(sa.String(8))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.Index("ix_webhook_manual_sends_endpoint_sent", "endpoint_id", "sent_at"),
        sa.CheckConstraint("kind IN ('retry', 'resend')", name="kind"),
    )
