"""Holds, releases, captures and top-ups: every movement a ledger entry with a unique key.

The wallet service is the one way money moves. The wallet row is the running total of its
entries, each built by `entry()`. Holds are placed in batches (`hold_orders`: the wallet
row locked once, orders accepted in arrival order while the available balance covers
them, their sum held by one conditional UPDATE `... WHERE balance - held >= amount`), so
concurrent orders can never overdraw; the database's CHECK constraints refuse it even if
code tried. Captures, releases and top-ups move the row and append the entry in one
statement on Postgres.
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
from engine.domain.money import LedgerKind
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


def _moving() -> sa.Update:
    """Unconditional moves (capture, release, top-up); holds are guarded in `hold_orders`."""
    stmt = sa.update(_W).where(
        _W.c.tenant_id == sa.bindparam("p_tenant"), _W.c.mode == sa.bindparam("p_mode")
    )
    return stmt.values(
        balance_cents=_W.c.balance_cents + sa.bindparam("p_bdelta"),
        held_cents=_W.c.held_cents + sa.bindparam("p_hdelta"),
        updated_at=sa.bindparam("p_now"),
    ).returning(_W.c.id, _W.c.balance_cents, _W.c.held_cents)


def entry(
    *,
    wallet_id: uuid.UUID | None,
    tenant_id: uuid.UUID,
    order_id: uuid.UUID | None,
    kind: LedgerKind,
    key: str,
    amount_cents: int,
    balance_delta: int,
    held_delta: int,
    description: str,
    now: datetime,
    entry_id: uuid.UUID | None = None,
) -> dict[str, object]:
    """One ledger entry's row (the only place one is built)."""
    return {
        "id": entry_id or uuid.uuid4(),
        "wallet_id": wallet_id,
        "tenant_id": tenant_id,
        "order_id": order_id,
        "kind": kind.value,
        "key": key,
        "amount_cents": amount_cents,
        "balance_delta_cents": balance_delta,
        "held_delta_cents": held_delta,
        "description": description,
        "created_at": now,
    }


#: The entry's columns, in `entry()`'s order; the one-statement move binds each as `e_<col>`.
_ENTRY_COLUMNS = [
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
]


def _moving_and_recording() -> sa.Select[Any]:
    """Postgres: the wallet UPDATE and its ledger INSERT as one statement, so the hot wallet
    row stays locked for a single round trip before the commit."""
    moved = _moving().cte("moved")
    values = [
        moved.c.id if name == "wallet_id" else sa.bindparam(f"e_{name}", type_=_L.c[name].type)
        for name in _ENTRY_COLUMNS
    ]
    recorded = (
        sa.insert(_L)
        .from_select(_ENTRY_COLUMNS, sa.select(*values))
        .returning(_L.c.id)
        .cte("entry")
    )
    return sa.select(
        moved.c.id, moved.c.balance_cents, moved.c.held_cents, recorded.c.id
    ).select_from(moved.join(recorded, sa.true()))


_LOCK_WALLET = (
    sa.select(_W.c.id, _W.c.balance_cents, _W.c.held_cents)
    .where(_W.c.tenant_id == sa.bindparam("p_tenant"), _W.c.mode == sa.bindparam("p_mode"))
    .with_for_update()
)
_HOLD_SUM = (
    sa.update(_W)
    .where(
        _W.c.id == sa.bindparam("p_wallet"),
        _W.c.balance_cents - _W.c.held_cents >= sa.bindparam("p_amount"),
    )
    .values(held_cents=_W.c.held_cents + sa.bindparam("p_amount"), updated_at=sa.bindparam("p_now"))
    .returning(_W.c.held_cents)
)
_MOVE = _moving()
_MOVE_AND_RECORD = _moving_and_recording()
_INSERT_ENTRY = sa.insert(_L)


def _move_and_record(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: str,
    order_id: uuid.UUID | None,
    kind: LedgerKind,
    key: str,
    amount_cents: int,
    balance_delta: int,
    held_delta: int,
    description: str,
    now: datetime,
) -> tuple[uuid.UUID, Balance] | None:
    """Move the wallet and append its ledger entry; None when the wallet does not exist.

    Returns the entry's id and the wallet after the move. The unique `key` makes a second
    identical movement fail with IntegrityError, rolling back the whole transaction.
    """
    # Parameter names must not be column names: SQLAlchemy would SET those columns.
    params: dict[str, object] = {
        "p_tenant": tenant_id,
        "p_mode": mode,
        "p_bdelta": balance_delta,
        "p_hdelta": held_delta,
        "p_now": now,
    }
    row = entry(
        wallet_id=None,  # the moved row's, known after the UPDATE
        tenant_id=tenant_id,
        order_id=order_id,
        kind=kind,
        key=key,
        amount_cents=amount_cents,
        balance_delta=balance_delta,
        held_delta=held_delta,
        description=description,
        now=now,
    )
    entry_id = uuid.UUID(str(row["id"]))
    if session.get_bind().dialect.name == "postgresql":
        bound = {f"e_{k}": v for k, v in row.items() if k != "wallet_id"}
        done = session.execute(_MOVE_AND_RECORD, {**params, **bound}).one_or_none()
        if done is None:
            return None
        return entry_id, Balance(done[1], done[2])
    moved = session.execute(_MOVE, params).one_or_none()
    if moved is None:
        return None
    session.execute(_INSERT_ENTRY, {**row, "wallet_id": moved[0]})
    return entry_id, Balance(moved[1], moved[2])


@dataclass(frozen=True)
class HoldRequest:
    order_id: uuid.UUID
    amount_cents: int
    #: Counts re-opened holds (admin replay of a failed order): each has its own ledger key.
    generation: int = 0


@dataclass(frozen=True)
class Held:
    """A hold placed: its ledger entry (the order's id when nothing was held) and the
    wallet as this order left it."""

    entry_id: uuid.UUID
    balance: Balance


@dataclass
class HoldBatch:
    """What `hold_orders` decided, per request, and the ledger rows still to write."""

    results: list[Held | errors.InsufficientCredits]
    entries: list[dict[str, object]]

    def record(self, session: Session) -> None:
        """Append the holds' ledger entries (after their orders exist: entries name them)."""
        if self.entries:
            session.execute(_INSERT_ENTRY, self.entries)
            self.entries = []


def hold_orders(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: str,
    requests: list[HoldRequest],
    now: datetime,
) -> HoldBatch:
    """Hold each request's amount in arrival order while the available balance covers it;
    the rest are refused with InsufficientCredits (with the shortfall).

    The wallet row is locked once and the accepted total held by one conditional UPDATE,
    so concurrent batches can never overdraw. The caller writes the entries with
    `HoldBatch.record` in the same transaction, once the orders they name exist.

    Raises:
        NotFound: the tenant has no wallet in `mode`.
    """
    row = session.execute(_LOCK_WALLET, {"p_tenant": tenant_id, "p_mode": mode}).one_or_none()
    if row is None:
        raise errors.NotFound("wallet", f"{tenant_id}/{mode}")
    wallet_id, balance, held = row
    taken = 0
    batch = HoldBatch([], [])
    for request in requests:
        cost = request.amount_cents
        available = balance - held - taken
        if cost > available:
            batch.results.append(
                errors.InsufficientCredits(balance_cents=available, cost_cents=cost)
            )
            continue
        taken += cost
        entry_id = request.order_id
        if cost:
            entry_id = uuid.uuid4()
            suffix = f":{request.generation}" if request.generation else ""
            row_ = entry(
                entry_id=entry_id,
                wallet_id=wallet_id,
                tenant_id=tenant_id,
                order_id=request.order_id,
                kind=LedgerKind.HOLD,
                key=f"order:{request.order_id}:hold{suffix}",
                amount_cents=cost,
                balance_delta=0,
                held_delta=cost,
                description=f"Hold for order {request.order_id}",
                now=now,
            )
            batch.entries.append(row_)
        batch.results.append(Held(entry_id, Balance(balance, held + taken)))
    if taken:
        held_now = session.execute(
            _HOLD_SUM, {"p_wallet": wallet_id, "p_amount": taken, "p_now": now}
        ).scalar_one_or_none()
        if held_now is None:  # cannot happen under the row lock; refuse, never overdraw
            raise errors.StaleState("wallet", wallet_id)
    return batch


def place_hold(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: str,
    order_id: uuid.UUID,
    amount_cents: int,
    now: datetime,
    generation: int = 0,
) -> Held:
    """Hold `amount_cents` for an existing order (`hold_orders` for one), or raise
    InsufficientCredits with the shortfall."""
    batch = hold_orders(
        session,
        tenant_id=tenant_id,
        mode=mode,
        requests=[HoldRequest(order_id, amount_cents, generation)],
        now=now,
    )
    [result] = batch.results
    if isinstance(result, errors.InsufficientCredits):
        raise result
    batch.record(session)
    return result


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
