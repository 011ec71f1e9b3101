"""Holds, releases, captures and top-ups: every movement a ledger entry with a unique key.

The wallet row is the running total of its entries. A hold is one conditional UPDATE
(`... WHERE balance - held >= amount`), so concurrent orders can never overdraw; the
database's CHECK constraints refuse it even if code tried.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables
from engine.domain.statuses import Mode


@dataclass(frozen=True)
class Balance:
    balance_cents: int
    held_cents: int

    @property
    def available_cents(self) -> int:
        return self.balance_cents - self.held_cents


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


def _entry(
    session: Session,
    *,
    wallet_id: uuid.UUID,
    tenant_id: uuid.UUID,
    order_id: uuid.UUID | None,
    kind: str,
    key: str,
    amount_cents: int,
    balance_delta: int,
    held_delta: int,
    description: str,
    now: datetime,
) -> tables.LedgerEntry:
    entry = tables.LedgerEntry(
        id=uuid.uuid4(),
        wallet_id=wallet_id,
        tenant_id=tenant_id,
        order_id=order_id,
        kind=kind,
        key=key,
        amount_cents=amount_cents,
        balance_delta_cents=balance_delta,
        held_delta_cents=held_delta,
        description=description,
        created_at=now,
    )
    session.add(entry)
    return entry


def _move(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: str,
    balance_delta: int,
    held_delta: int,
    guard: sa.ColumnElement[bool] | None,
    now: datetime,
) -> tuple[uuid.UUID, int, int] | None:
    w = tables.Wallet
    stmt = (
        sa.update(w)
        .where(w.tenant_id == tenant_id, w.mode == mode)
        .values(
            balance_cents=w.balance_cents + balance_delta,
            held_cents=w.held_cents + held_delta,
            updated_at=now,
        )
        .returning(w.id, w.balance_cents, w.held_cents)
    )
    if guard is not None:
        stmt = stmt.where(guard)
    row = session.execute(stmt).one_or_none()
    return (row[0], row[1], row[2]) if row else None


def place_hold(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: str,
    order_id: uuid.UUID,
    amount_cents: int,
    now: datetime,
    generation: int = 0,
) -> tuple[tables.LedgerEntry, Balance]:
    """Hold `amount_cents` for an order, or raise InsufficientCredits with the shortfall.

    `generation` counts re-opened holds (admin replay of a failed order), so each hold has
    its own ledger key.
    """
    w = tables.Wallet
    moved = _move(
        session,
        tenant_id=tenant_id,
        mode=mode,
        balance_delta=0,
        held_delta=amount_cents,
        guard=(w.balance_cents - w.held_cents) >= amount_cents,
        now=now,
    )
    if moved is None:
        wallet = get_wallet(session, tenant_id, mode)
        raise errors.InsufficientCredits(
            balance_cents=wallet.balance_cents - wallet.held_cents, cost_cents=amount_cents
        )
    wallet_id, balance, held = moved
    entry = _entry(
        session,
        wallet_id=wallet_id,
        tenant_id=tenant_id,
        order_id=order_id,
        kind="hold",
        key=f"order:{order_id}:hold" + (f":{generation}" if generation else ""),
        amount_cents=amount_cents,
        balance_delta=0,
        held_delta=amount_cents,
        description=f"Hold for order {order_id}",
        now=now,
    )
    return entry, Balance(balance, held)


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
        kind="release",
        key=f"order:{order_id}:release:{reason}{suffix}",
        tenant_id=tenant_id,
        mode=mode,
        order_id=order_id,
        amount_cents=amount_cents,
        balance_delta=0,
        description=f"Released hold for order {order_id} ({reason})",
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
        kind="capture",
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
    kind: str,
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
    moved = _move(
        session,
        tenant_id=tenant_id,
        mode=mode,
        balance_delta=balance_delta,
        held_delta=-amount_cents,
        guard=None,
        now=now,
    )
    if moved is None:
        raise errors.NotFound("wallet", f"{tenant_id}/{mode}")
    wallet_id, balance, held = moved
    _entry(
        session,
        wallet_id=wallet_id,
        tenant_id=tenant_id,
        order_id=order_id,
        kind=kind,
        key=key,
        amount_cents=amount_cents,
        balance_delta=balance_delta,
        held_delta=-amount_cents,
        description=description,
        now=now,
    )
    return Balance(balance, held)


def credit(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: str,
    amount_cents: int,
    key: str,
    description: str,
    now: datetime,
) -> tuple[tables.LedgerEntry, Balance]:
    """Add money to a wallet (top-up); `key` makes it happen once."""
    if amount_cents <= 0:
        raise errors.ValidationFailed(
            [errors.FieldProblem("amount_cents", "must be a positive number of cents")]
        )
    moved = _move(
        session,
        tenant_id=tenant_id,
        mode=mode,
        balance_delta=amount_cents,
        held_delta=0,
        guard=None,
        now=now,
    )
    if moved is None:
        raise errors.NotFound("wallet", f"{tenant_id}/{mode}")
    wallet_id, balance, held = moved
    entry = _entry(
        session,
        wallet_id=wallet_id,
        tenant_id=tenant_id,
        order_id=None,
        kind="topup",
        key=key,
        amount_cents=amount_cents,
        balance_delta=amount_cents,
        held_delta=0,
        description=description,
        now=now,
    )
    return entry, Balance(balance, held)


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
