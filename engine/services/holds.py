"""Holds: the one place credits are held for orders.

Holds are placed in batches (`hold_orders`): the wallet row locked once, orders accepted
in arrival order while the available balance covers them, their sum held by one
conditional UPDATE `... WHERE balance - held >= amount`, so concurrent orders can never
overdraw; the database's CHECK constraints refuse it even if code tried. Each hold is a
ledger entry (`ledger.entry`) keyed `order:{id}:hold`, so an order is held once per
generation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables
from engine.domain.money import LedgerKind
from engine.services import ledger

_W = tables.table_of(tables.Wallet)

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
    balance: ledger.Balance


@dataclass
class HoldBatch:
    """What `hold_orders` decided, per request, and the ledger rows still to write."""

    results: list[Held | errors.InsufficientCredits]
    entries: list[dict[str, object]]

    def record(self, session: Session) -> None:
        """Append the holds' ledger entries (after their orders exist: entries name them)."""
        if self.entries:
            session.execute(ledger.INSERT_ENTRY, self.entries)
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
            row_ = ledger.entry(
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
        batch.results.append(Held(entry_id, ledger.Balance(balance, held + taken)))
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
