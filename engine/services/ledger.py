"""Ledger entries: the one place an entry's row is built (`entry()`), and the one statement
that moves a wallet and appends the entry recording it (`move_and_record`).

The wallet row is the running total of its entries. Captures, releases and top-ups move
the row and append the entry in one statement on Postgres, so the hot wallet row stays
locked for a single round trip; holds (`holds.hold_orders`) write their entries in a batch
with `INSERT_ENTRY`. Every entry carries a unique `key`: the database refuses a second one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import tables
from engine.domain.money import LedgerKind


@dataclass(frozen=True)
class Balance:
    balance_cents: int
    held_cents: int

    @property
    def available_cents(self) -> int:
        return self.balance_cents - self.held_cents


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


_MOVE = _moving()
_MOVE_AND_RECORD = _moving_and_recording()
#: Appends entries built by `entry()` (one row, or a batch of them).
INSERT_ENTRY = sa.insert(_L)


def move_and_record(
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
    session.execute(INSERT_ENTRY, {**row, "wallet_id": moved[0]})
    return entry_id, Balance(moved[1], moved[2])
