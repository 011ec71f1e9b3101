"""Writing prepared orders: one transaction per batch, each order's cost held, its first
job queued in the outbox and its acceptance events recorded with it.

The intake writer calls `write_orders` with concurrent orders together; `written` tells it,
after a commit whose outcome is unknown, which of them the database holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from engine import errors
from engine.adapters import tables
from engine.services import events, holds, outbox
from engine.services.acceptance import CreatedOrder, Prepared
from engine.services.context import Context


def write_orders(
    app: Context, batch: list[Prepared], *, timeout_s: float | None = None
) -> list[CreatedOrder | errors.InkwellError]:
    """Write prepared orders in one transaction, holding each one's cost.

    With `timeout_s` (Postgres), a lock wait or statement longer than that fails the whole
    transaction (rolled back, nothing kept) instead of waiting on.

    Each wallet is locked once (in a fixed order, so concurrent batches cannot deadlock);
    orders are accepted in arrival order while the available balance covers them, the
    rest answer InsufficientCredits; the accepted total is held by one conditional UPDATE.
    Returns, per order, its result or the error for that order alone.

    Raises:
        DuplicateExternalId: a one-order batch whose external_id the tenant's mode already
            has (the unique index decides, so concurrent duplicates cannot both land; a
            larger batch raises IntegrityError and the intake retries it order by order).
    """
    try:
        return _write_orders(app, batch, timeout_s)
    except sa.exc.IntegrityError as e:
        if len(batch) == 1 and (existing := _existing_external(app, batch[0].order)):
            raise errors.DuplicateExternalId(str(batch[0].order.external_id), existing) from e
        raise


def written(app: Context, order_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `order_ids` the database holds (read on a fresh connection)."""
    with app.uow() as uow:
        found = uow.session.scalars(
            sa.select(tables.Order.id).where(tables.Order.id.in_(list(order_ids)))
        )
        return set(found)


def _existing_external(app: Context, order: tables.Order) -> uuid.UUID | None:
    """The id of the order that already holds `order`'s external_id, if any."""
    if order.external_id is None:
        return None
    with app.uow() as uow:
        return uow.session.execute(
            sa.select(tables.Order.id).where(
                tables.Order.tenant_id == order.tenant_id,
                tables.Order.mode == order.mode,
                tables.Order.external_id == order.external_id,
            )
        ).scalar_one_or_none()


def _write_orders(
    app: Context, batch: list[Prepared], timeout_s: float | None
) -> list[CreatedOrder | errors.InkwellError]:
    now = app.clock()
    results: list[CreatedOrder | errors.InkwellError | None] = [None] * len(batch)
    by_wallet: dict[tuple[uuid.UUID, str], list[int]] = {}
    for index, item in enumerate(batch):
        by_wallet.setdefault((item.order.tenant_id, item.order.mode), []).append(index)
    with app.uow() as uow:
        session = uow.session
        if timeout_s is not None and session.get_bind().dialect.name == "postgresql":
            ms = str(max(int(timeout_s * 1000), 1))
            session.execute(_BOUND, {"ms": ms})
        accepted: list[int] = []
        hold_batches: list[holds.HoldBatch] = []
        # Wallets in a fixed order, so concurrent batches cannot deadlock.
        for (tenant_id, mode), indexes in sorted(by_wallet.items(), key=lambda kv: str(kv[0])):
            try:
                held = holds.hold_orders(
                    session,
                    tenant_id=tenant_id,
                    mode=mode,
                    requests=[
                        holds.HoldRequest(batch[i].order.id, batch[i].cost_cents) for i in indexes
                    ],
                    now=now,
                )
            except errors.NotFound as e:
                for index in indexes:
                    results[index] = e
                continue
            hold_batches.append(held)
            for index, outcome in zip(indexes, held.results, strict=True):
                if isinstance(outcome, errors.InsufficientCredits):
                    results[index] = outcome
                    continue
                accepted.append(index)
                results[index] = CreatedOrder(
                    order=batch[index].order,
                    recipients=batch[index].recipients,
                    transaction_id=outcome.entry_id,
                    balance=outcome.balance,
                )
        if accepted:
            session.execute(_INSERT_ORDER, _all_values([batch[i].order for i in accepted]))
            session.execute(
                _INSERT_RECIPIENT, _all_values([r for i in accepted for r in batch[i].recipients])
            )
            outbox.enqueue_many(
                session,
                [
                    outbox.Job("check_addresses", o.tenant_id, {"order_id": o.id})
                    for o in (batch[i].order for i in accepted)
                ],
                now=now,
            )
            events.record_accepted(session, [batch[i].order for i in accepted], now)
            for held in hold_batches:
                held.record(session)
            try:
                uow.commit()
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as e:
                # The COMMIT may have reached the server before the connection broke: what
                # was written is unknown here, so the intake looks before it answers.
                raise errors.CommitUncertain(list(results)) from e
    out: list[CreatedOrder | errors.InkwellError] = []
    for result in results:
        assert result is not None
        out.append(result)
    return out


#: The batch's deadline, as both timeouts, in one round trip (SET LOCAL takes no parameters;
#: set_config(…, true) is the same thing, and one text for every deadline is prepared once).
_BOUND = sa.text(
    "SELECT set_config('lock_timeout', :ms, true), set_config('statement_timeout', :ms, true)"
)
_INSERT_ORDER = sa.insert(tables.table_of(tables.Order))
_INSERT_RECIPIENT = sa.insert(tables.table_of(tables.Recipient))


def _values(row: tables.Base) -> dict[str, object]:
    """The columns set on a new (unsaved) row; the rest take their defaults."""
    columns = sa.inspect(type(row)).column_attrs  # attribute names (`order_metadata`)
    return {a.columns[0].key: v for a in columns if (v := getattr(row, a.key, None)) is not None}


def _all_values(rows: Sequence[tables.Base]) -> list[dict[str, object]]:
    """Rows for one executemany: every row names the same columns (SQLAlchemy builds the
    statement from the first row's keys and would drop the others' extra values)."""
    values = [_values(r) for r in rows]
    keys = set().union(*values)
    return [{k: v.get(k) for k in keys} for v in values]
