"""The schema, as SQLAlchemy 2 models. Only ever changed together with a migration.

Constraints carry explicit names (see `NAMING`) so migrations can refer to them on every
database. Money columns are integer cents; timestamps are aware UTC.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from engine.domain.money import LedgerKind
from engine.domain.statuses import DeliveryStatus, RecipientStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on Postgres and SQLite alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: JSON everywhere, JSONB on Postgres.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200))
    pricing_model: Mapped[str] = mapped_column(sa.String(32), default="wholesale")
    per_letter_cost_cents: Mapped[int] = mapped_column(default=199)
    per_card_cost_cents: Mapped[int] = mapped_column(default=249)
    per_postcard_cost_cents: Mapped[int] = mapped_column(default=149)
    per_envelope_cost_cents: Mapped[int] = mapped_column(default=99)
    premium_paper_surcharge_cents: Mapped[int] = mapped_column(default=50)
    low_balance_alert_cents: Mapped[int] = mapped_column(default=5000)
    #: Overrides ORDER_CANCEL_WINDOW_S for this tenant when set.
    cancel_window_s: Mapped[int | None] = mapped_column()
    #: No foreign key: fonts also point at tenants, and SQLite cannot add one later.
    default_font_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.CheckConstraint(
            "per_letter_cost_cents >= 0 AND per_card_cost_cents >= 0 AND "
            "per_postcard_cost_cents >= 0 AND per_envelope_cost_cents >= 0 AND "
            "premium_paper_surcharge_cents >= 0",
            name="prices_not_negative",
        ),
        sa.CheckConstraint("cancel_window_s IS NULL OR cancel_window_s >= 0", name="window"),
    )


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id"), index=True)
    mode: Mapped[str] = mapped_column(sa.String(8))
    name: Mapped[str] = mapped_column(sa.String(100))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(sa.String(20))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.CheckConstraint("mode IN ('test', 'live')", name="mode"),)


class Wallet(Base):
    """One per tenant and mode; the running total of its ledger entries."""

    __tablename__ = "wallets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id"))
    mode: Mapped[str] = mapped_column(sa.String(8))
    balance_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    held_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "mode"),
        sa.CheckConstraint("mode IN ('test', 'live')", name="mode"),
        sa.CheckConstraint("held_cents >= 0", name="held_not_negative"),
        sa.CheckConstraint("balance_cents - held_cents >= 0", name="available_not_negative"),
    )


LEDGER_KINDS = (
    LedgerKind.TOPUP,
    LedgerKind.HOLD,
    LedgerKind.RELEASE,
    LedgerKind.CAPTURE,
    LedgerKind.ADJUSTMENT,
)


class LedgerEntry(Base):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE."""

    __tablename__ = "ledger_entries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    wallet_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("wallets.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id"))
    order_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: Unique per movement, e.g. `order:{id}:hold`; the database refuses a second one.
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    balance_delta_cents: Mapped[int] = mapped_column(sa.BigInteger)
    held_delta_cents: Mapped[int] = mapped_column(sa.BigInteger)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint(
            "kind IN ('topup', 'hold', 'release', 'capture', 'adjustment')", name="kind"
        ),
    )


class Font(Base):
    __tablename__ = "fonts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    #: NULL for the catalogue every tenant sees; set for a tenant's own uploaded font.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenants.id"), index=True)
    slug: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    category: Mapped[str] = mapped_column(sa.String(32), default="script")
    file_name: Mapped[str | None] = mapped_column(sa.String(200))
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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


def table_of(model: type[Base]) -> sa.Table:
    """A model's Core table, for hot paths written as prebuilt Core statements."""
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table
