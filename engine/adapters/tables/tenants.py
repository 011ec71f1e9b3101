"""Who may call: tenants (with their prices), their API keys, and the fonts they write in."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from engine.adapters.tables.base import Base, JSONType, utcnow


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
