"""Holds, releases, captures and top-ups: every movement a ledger entry with a unique key.

The wallet row is the running total of its entries. A hold is one conditional UPDATE
(`... WHERE balance - held >= amount`), so concurrent orders can never overdraw; the
database's CHECK constraints refuse it even if code tried.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


_W = tables.table_of(tables.Wallet)
_L = tables.table_of(tables.LedgerEntry)


def _moving(guarded: bool) -> sa.Update:
    stmt = sa.update(_W).where(
        _W.c.tenant_id == sa.bindparam("p_tenant"), _W.c.mode == sa.bindparam("p_mode")
    )
    if guarded:
        stmt = stmt.where(_W.c.balance_cents - _W.c.held_cents >= sa.bindparam("p_amount"))
    return stmt.values(
        balance_cents=_W.c.balance_cents + sa.bindparam("p_bdelta"),
        held_cents=_W.c.held_cents + sa.bindparam("p_hdelta"),
        updated_at=sa.bindparam("p_now"),
    ).returning(_W.c.id, _W.c.balance_cents, _W.c.held_cents)


def _moving_and_recording(guarded: bool) -> sa.Select[Any]:
    """Postgres: the wallet UPDATE and its ledger INSERT as one statement, so the hot wallet
    row stays locked for a single round trip before the commit."""
    moved = _moving(guarded).cte("moved")
    entry = (
        sa.insert(_L)
        .from_select(
            [
                "id",
                "wallet_id",
                "tenant_id",
                "order_id",
                "kind",
                "key",
                "amount_cents",
                "balance_delta_cents",
                "held_delta_cents",
                "description",
                "created_at",
            ],
            sa.select(
                sa.bindparam("p_entry", type_=sa.Uuid()),
                moved.c.id,
                sa.bindparam("p_tenant", type_=sa.Uuid()),
                sa.bindparam("p_order", type_=sa.Uuid()),
                sa.bindparam("p_kind", type_=sa.String()),
                sa.bindparam("p_key", type_=sa.String()),
                sa.bindparam("p_amount", type_=sa.BigInteger()),
                sa.bindparam("p_bdelta", type_=sa.BigInteger()),
                sa.bindparam("p_hdelta", type_=sa.BigInteger()),
                sa.bindparam("p_desc", type_=sa.String()),
                sa.bindparam("p_now", type_=tables.UTCDateTime()),
            ),
        )
        .returning(_L.c.id)
        .cte("entry")
    )
    return sa.select(moved.c.id, moved.c.balance_cents, moved.c.held_cents, entry.c.id).select_from(
        moved.join(entry, sa.true())
    )


_MOVE = {True: _moving(True), False: _moving(False)}
_MOVE_AND_RECORD = {True: _moving_and_recording(True), False: _moving_and_recording(False)}
_INSERT_ENTRY = sa.insert(_L)


def _move_and_record(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: str,
    order_id: uuid.UUID | None,
    kind: str,
    key: str,
    amount_cents: int,
    balance_delta: int,
    held_delta: int,
    description: str,
    guarded: bool,
    now: datetime,
) -> tuple[uuid.UUID, Balance] | None:
    """Move the wallet and append its ledger entry; None when the guard refused the move.

    Returns the entry's id and the wallet after the move. The unique `key` makes a second
    identical movement fail with IntegrityError, rolling back the whole transaction.
    """
    # Parameter names must not be column names: SQLAlchemy would SET those columns.
    params: dict[str, object] = {
        "p_tenant": tenant_id,
        "p_mode": mode,
        "p_amount": amount_cents,
        "p_bdelta": balance_delta,
        "p_hdelta": held_delta,
        "p_now": now,
    }
    entry_id = uuid.uuid4()
    record: dict[str, object] = {
        "p_entry": entry_id,
        "p_order": order_id,
        "p_kind": kind,
        "p_key": key,
        "p_desc": description,
    }
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(_MOVE_AND_RECORD[guarded], {**params, **record}).one_or_none()
        if row is None:
            return None
        return entry_id, Balance(row[1], row[2])
    moved = session.execute(_MOVE[guarded], params).one_or_none()
    if moved is None:
        return None
    session.execute(
        _INSERT_ENTRY,
        {
            "id": entry_id,
            "wallet_id": moved[0],
            "tenant_id": tenant_id,
            "order_id": order_id,
            "kind": kind,
            "key": key,
            "amount_cents": amount_cents,
            "balance_delta_cents": balance_delta,
            "held_delta_cents": held_delta,
            "description": description,
            "created_at": now,
        },
    )
    return entry_id, Balance(moved[1], moved[2])


def place_hold(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: str,
    order_id: uuid.UUID,
    amount_cents: int,
    now: datetime,
    generation: int = 0,
) -> tuple[uuid.UUID, Balance]:
    """Hold `amount_cents` for an order, or raise InsufficientCredits with the shortfall.

    One conditional statement (`... WHERE balance - held >= amount`), so concurrent orders
    never overdraw. `generation` counts re-opened holds (admin replay of a failed order),
    so each hold has its own ledger key. Returns the ledger entry's id and the wallet.
    """
    done = _move_and_record(
        session,
        tenant_id=tenant_id,
        mode=mode,
        order_id=order_id,
        kind="hold",
        key=f"order:{order_id}:hold" + (f":{generation}" if generation else ""),
        amount_cents=amount_cents,
        balance_delta=0,
        held_delta=amount_cents,
        description=f"Hold for order {order_id}",
        guarded=True,
        now=now,
    )
    if done is None:
        wallet = get_wallet(session, tenant_id, mode)
        raise errors.InsufficientCredits(
            balance_cents=wallet.balance_cents - wallet.held_cents, cost_cents=amount_cents
        )
    return done


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


def release_order(
    session: Session,
    order: Any,
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
    done = _move_and_record(
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
        guarded=False,
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
    done = _move_and_record(
        session,
        tenant_id=tenant_id,
        mode=mode,
        order_id=None,
        kind="topup",
        key=key,
        amount_cents=amount_cents,
        balance_delta=amount_cents,
        held_delta=0,
        description=description,
        guarded=False,
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
