"""Money: one wallet per tenant and mode, and the append-only ledger it totals."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from engine.adapters.tables.base import Base, utcnow
from engine.domain.money import LedgerKind


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
