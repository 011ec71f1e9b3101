"""Production reports back: letters printed, letters mailed, orders delivered.

The print shop (an operator, through `inkwell orders printed|mailed|delivered`) tells us
what happened to an order after capture; each report moves the letters and the order along
their lifecycles (DESIGN.md section 2) and records the events at 000's moments:

- `order.completed` when every letter of the order is printed (processing → completed);
- `letter.mailed` for each letter handed to the carrier, with its tracking number;
- `order.shipped` when every letter is mailed (completed → shipped);
- `order.delivered` when the carrier reports the order delivered (status stays shipped).

Every report is idempotent: a letter already printed or mailed is left as it is, and each
event has its own key, so a repeated report records nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables, transitions
from engine.domain.event_types import EventType
from engine.domain.statuses import OrderStatus, RecipientStatus
from engine.services import events
from engine.services.context import Context

#: An order whose letters may be reported on (a repeated report on a later one is a no-op).
_PRODUCED = frozenset(
    s.value for s in (OrderStatus.PROCESSING, OrderStatus.COMPLETED, OrderStatus.SHIPPED)
)


@dataclass(frozen=True)
class Progress:
    """Where an order stands after a report."""

    order_id: uuid.UUID
    status: str
    #: Letters this report moved.
    moved: int
    #: Events this report recorded.
    events: list[str]


def record_printed(
    app: Context, order_id: uuid.UUID, letter_ids: Sequence[uuid.UUID] | None = None
) -> Progress:
    """Mark `letter_ids` (default: every rendered letter) printed; the last one completes
    the order.

    Raises:
        NotFound: no such order, or a letter not of it.
        Conflict: the order is not in production (`processing`).
    """
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        order = _lock(session, order_id)
        if order.status not in _PRODUCED:
            raise errors.Conflict(
                f"Order {order_id} is {order.status}; only an order in production "
                "(processing) can have letters printed.",
            )
        letters = _letters(session, order_id, letter_ids)
        moved = [r for r in letters if r.status == RecipientStatus.RENDERED.value]
        for r in moved:
            r.status = RecipientStatus.PRINTED.value
            r.updated_at = now
        session.flush()
        recorded: list[str] = []
        processing = order.status == OrderStatus.PROCESSING.value
        if processing and not _count(session, order_id, (RecipientStatus.RENDERED,)):
            _move(session, order, OrderStatus.COMPLETED, now)
            _event(
                session,
                order,
                EventType.ORDER_COMPLETED,
                f"order:{order_id}:completed",
                now,
                recorded,
            )
        uow.commit()
        return Progress(order_id, order.status, len(moved), recorded)


def record_mailed(
    app: Context,
    order_id: uuid.UUID,
    tracking: Mapping[uuid.UUID, str | None] | None = None,
    *,
    mailed_at: datetime | None = None,
) -> Progress:
    """Mark printed letters mailed, each with its tracking number (None when the class of
    mail has none; `tracking` None: every printed letter, untracked); the last one ships
    the order.

    Raises:
        NotFound: no such order, or a letter not of it.
        Conflict: the order is not printed yet, or a letter is not printed.
    """
    now = app.clock()
    mailed_at = mailed_at or now
    with app.uow() as uow:
        session = uow.session
        order = _lock(session, order_id)
        if order.status not in _PRODUCED:
            raise errors.Conflict(
                f"Order {order_id} is {order.status}; letters are mailed once printed.",
            )
        if tracking is None:
            letters = [
                r
                for r in _letters(session, order_id, None)
                if r.status == RecipientStatus.PRINTED.value
            ]
            tracking = dict.fromkeys((r.id for r in letters), None)
        else:
            letters = _letters(session, order_id, list(tracking))
        recorded: list[str] = []
        moved = 0
        for r in letters:
            if r.status == RecipientStatus.MAILED.value:
                continue
            if r.status != RecipientStatus.PRINTED.value:
                raise errors.Conflict(
                    f"Letter {r.id} is {r.status}; only a printed letter can be mailed.",
                )
            r.status = RecipientStatus.MAILED.value
            r.tracking_number = tracking[r.id]
            r.mailed_at = mailed_at
            r.updated_at = now
            moved += 1
            _event(
                session,
                order,
                EventType.LETTER_MAILED,
                f"letter:{r.id}:mailed",
                now,
                recorded,
                extra={
                    "letter_id": str(r.id),
                    "recipient_index": r.position,
                    "tracking_number": r.tracking_number,
                    "mailed_at": mailed_at,
                },
            )
        session.flush()
        waiting = (RecipientStatus.RENDERED, RecipientStatus.PRINTED)
        if order.status == OrderStatus.COMPLETED.value and not _count(session, order_id, waiting):
            _move(session, order, OrderStatus.SHIPPED, now)
            _event(
                session, order, EventType.ORDER_SHIPPED, f"order:{order_id}:shipped", now, recorded
            )
        uow.commit()
        return Progress(order_id, order.status, moved, recorded)


def record_delivered(app: Context, order_id: uuid.UUID) -> Progress:
    """The carrier reports the order delivered: `order.delivered` (its status stays
    `shipped`, the last one of the lifecycle).

    Raises:
        NotFound: no such order.
        Conflict: the order has not shipped.
    """
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        order = _lock(session, order_id)
        if order.status != OrderStatus.SHIPPED.value:
            raise errors.Conflict(
                f"Order {order_id} is {order.status}; only a shipped order can be delivered.",
            )
        recorded: list[str] = []
        _event(
            session, order, EventType.ORDER_DELIVERED, f"order:{order_id}:delivered", now, recorded
        )
        uow.commit()
        return Progress(order_id, order.status, 0, recorded)


def _lock(session: Session, order_id: uuid.UUID) -> tables.Order:
    order = session.scalar(
        sa.select(tables.Order).where(tables.Order.id == order_id).with_for_update()
    )
    if order is None:
        raise errors.NotFound("order", order_id)
    return order


def _letters(
    session: Session, order_id: uuid.UUID, letter_ids: Sequence[uuid.UUID] | None
) -> list[tables.Recipient]:
    r = tables.Recipient
    query = sa.select(r).where(r.order_id == order_id).order_by(r.position)
    if letter_ids is None:
        return list(session.scalars(query))
    found = {x.id: x for x in session.scalars(query.where(r.id.in_(list(letter_ids))))}
    for letter_id in letter_ids:
        if letter_id not in found:
            raise errors.NotFound("letter", f"{letter_id} of order {order_id}")
    return [found[letter_id] for letter_id in letter_ids]


def _count(session: Session, order_id: uuid.UUID, statuses: Sequence[RecipientStatus]) -> int:
    r = tables.Recipient
    return int(
        session.scalar(
            sa.select(sa.func.count()).where(
                r.order_id == order_id, r.status.in_([s.value for s in statuses])
            )
        )
        or 0
    )


def _move(session: Session, order: tables.Order, target: OrderStatus, now: datetime) -> None:
    """The lifecycle's compare-and-set; the order row is locked, so it cannot miss."""
    moved = session.execute(
        transitions.move(target).values(updated_at=now).returning(tables.Order.id),
        {"oid": order.id},
    ).one_or_none()
    if moved is None:
        raise errors.StaleState("order", order.id)
    session.refresh(order)


def _event(
    session: Session,
    order: tables.Order,
    type: str,
    key: str,
    now: datetime,
    recorded: list[str],
    *,
    extra: dict[str, object] | None = None,
) -> None:
    if events.record(session, order=order, type=type, key=key, now=now, extra=extra):
        recorded.append(type)
