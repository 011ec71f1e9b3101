"""Wallets: created and read, released, captured and topped up, and proved against the ledger.

The wallet services are the one way money moves; every movement is a ledger entry with a
unique key. Holds are placed in `holds` (`hold_orders`, `place_hold`); entries are built
and written with their wallet's move in `ledger`. Releases, captures and top-ups here go
through `ledger.move_and_record`. The wallet row is the running total of its entries, and
`check_ledger` proves it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables
from engine.domain.money import LedgerKind
from engine.domain.statuses import Mode
from engine.services import ledger

# By name: callers read a wallet as `wallet.Balance`; it lives with the move that returns it.
from engine.services.ledger import Balance


def ensure_wallets(session: Session, tenant_id: uuid.UUID, now: datetime) -> None:
    """Create the tenant's test and live wallets if missing."""
    existing = set(
        session.scalars(sa.select(tables.Wallet.mode).where(tables.Wallet.tenant_id == tenant_id))
    )
    for mode in Mode:
        if mode.value not in existing:
            session.add(tables.Wallet(tenant_id=tenant_id, mode=mode.value, updated_at=now))
    session.flush()


def get_wallet(session: Session, tenant_id: uuid.UUID, mode: str) -> tables.Wallet:
    wallet = session.scalar(
        sa.select(tables.Wallet).where(
            tables.Wallet.tenant_id == tenant_id, tables.Wallet.mode == mode
        )
    )
    if wallet is None:
        raise errors.NotFound("wallet", f"{tenant_id}/{mode}")
    return wallet


class HeldOrder(Protocol):
    """What releasing an order's hold reads of it (an Order)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def mode(self) -> str: ...
    @property
    def total_cents(self) -> int: ...
    @property
    def hold_generation(self) -> int: ...


def release_hold(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: str,
    order_id: uuid.UUID,
    amount_cents: int,
    reason: str,
    now: datetime,
    attempt: int = 0,
) -> Balance:
    """Void (part of) an order's hold. `attempt` keeps keys unique across re-opened holds."""
    suffix = f":{attempt}" if attempt else ""
    return _release_or_capture(
        session,
        kind=LedgerKind.RELEASE,
        key=f"order:{order_id}:release:{reason}{suffix}",
        tenant_id=tenant_id,
        mode=mode,
        order_id=order_id,
        amount_cents=amount_cents,
        balance_delta=0,
        description=f"Released hold for order {order_id} ({reason})",
        now=now,
    )


def release_order(
    session: Session,
    order: HeldOrder,
    *,
    reason: str,
    now: datetime,
    amount_cents: int | None = None,
) -> Balance:
    """Void an order's current hold (all of it, or `amount_cents`), keyed by its hold
    generation so a re-opened order's release never collides with an earlier one."""
    return release_hold(
        session,
        tenant_id=order.tenant_id,
        mode=order.mode,
        order_id=order.id,
        amount_cents=order.total_cents if amount_cents is None else amount_cents,
        reason=reason,
        attempt=order.hold_generation,
        now=now,
    )


def capture(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: str,
    order_id: uuid.UUID,
    amount_cents: int,
    now: datetime,
) -> Balance:
    """Turn an order's hold into a debit."""
    return _release_or_capture(
        session,
        kind=LedgerKind.CAPTURE,
        key=f"order:{order_id}:capture",
        tenant_id=tenant_id,
        mode=mode,
        order_id=order_id,
        amount_cents=amount_cents,
        balance_delta=-amount_cents,
        description=f"Charge for order {order_id}",
        now=now,
    )


def _release_or_capture(
    session: Session,
    *,
    kind: LedgerKind,
    key: str,
    tenant_id: uuid.UUID,
    mode: str,
    order_id: uuid.UUID,
    amount_cents: int,
    balance_delta: int,
    description: str,
    now: datetime,
) -> Balance:
    if amount_cents <= 0:
        wallet = get_wallet(session, tenant_id, mode)
        return Balance(wallet.balance_cents, wallet.held_cents)
    done = ledger.move_and_record(
        session,
        tenant_id=tenant_id,
        mode=mode,
        order_id=order_id,
        kind=kind,
        key=key,
        amount_cents=amount_cents,
        balance_delta=balance_delta,
        held_delta=-amount_cents,
        description=description,
        now=now,
    )
    if done is None:
        raise errors.NotFound("wallet", f"{tenant_id}/{mode}")
    return done[1]


def credit(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: str,
    amount_cents: int,
    key: str,
    description: str,
    now: datetime,
) -> tuple[uuid.UUID, Balance]:
    """Add money to a wallet (top-up); `key` makes it happen once."""
    if amount_cents <= 0:
        raise errors.ValidationFailed(
            [errors.FieldProblem("amount_cents", "must be a positive number of cents")]
        )
    done = ledger.move_and_record(
        session,
        tenant_id=tenant_id,
        mode=mode,
        order_id=None,
        kind=LedgerKind.TOPUP,
        key=key,
        amount_cents=amount_cents,
        balance_delta=amount_cents,
        held_delta=0,
        description=description,
        now=now,
    )
    if done is None:
        raise errors.NotFound("wallet", f"{tenant_id}/{mode}")
    return done


@dataclass(frozen=True)
class LedgerCheck:
    wallet_id: uuid.UUID
    balance_cents: int
    held_cents: int
    ledger_balance_cents: int
    ledger_held_cents: int

    @property
    def ok(self) -> bool:
        return (self.balance_cents, self.held_cents) == (
            self.ledger_balance_cents,
            self.ledger_held_cents,
        )


def check_ledger(session: Session, wallet_id: uuid.UUID | None = None) -> list[LedgerCheck]:
    """Prove each wallet row equals the sum of its ledger entries."""
    e = tables.LedgerEntry
    sums = (
        sa.select(
            e.wallet_id,
            sa.func.coalesce(sa.func.sum(e.balance_delta_cents), 0).label("b"),
            sa.func.coalesce(sa.func.sum(e.held_delta_cents), 0).label("h"),
        )
        .group_by(e.wallet_id)
        .subquery()
    )
    w = tables.Wallet
    stmt = sa.select(
        w.id,
        w.balance_cents,
        w.held_cents,
        sa.func.coalesce(sums.c.b, 0),
        sa.func.coalesce(sums.c.h, 0),
    ).outerjoin(sums, sums.c.wallet_id == w.id)
    if wallet_id is not None:
        stmt = stmt.where(w.id == wallet_id)
    return [
        LedgerCheck(row[0], row[1], row[2], int(row[3]), int(row[4]))
        for row in session.execute(stmt)
    ]
