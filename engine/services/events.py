"""Events partners can subscribe to, recorded once per happening."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, TypeAlias

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import sql, tables
from engine.domain.event_types import EventType
from engine.domain.timestamps import iso
from engine.services import outbox

#: Recorded in the intake transaction, as the order is accepted and its credits held
#: (000: "order created and credits deducted").
ACCEPTED = (EventType.ORDER_CREATED, EventType.ORDER_CONFIRMED)


class OrderRow(Protocol):
    """What recording an order's event reads of a row of the order's columns (stages read
    rows, not objects). The row names the partner's pairs `metadata`, as the column is."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def mode(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def letter_count(self) -> int: ...
    @property
    def total_cents(self) -> int: ...
    @property
    def product_type(self) -> str: ...
    @property
    def recipient_count(self) -> int | None: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def metadata(self) -> dict[str, Any] | None: ...
    @property
    def created_at(self) -> datetime: ...


#: An order as events are recorded from it: an Order, or a row of its columns. Both are
#: named because they call the partner's pairs differently (`order_metadata`, `metadata`).
OrderRef: TypeAlias = "tables.Order | OrderRow"


def order_data(order: OrderRef) -> dict[str, Any]:
    """The order fields every order event carries, as in the reference payload."""
    return {
        "order_id": str(order.id),
        "status": order.status,
        "letter_count": order.letter_count,
        "total_cents": order.total_cents,
        "product_type": order.product_type,
        # Rows written before 0003 have no recipient_count; letter_count was all there was.
        "recipient_count": order.recipient_count
        if order.recipient_count is not None
        else order.letter_count,
        "external_id": order.external_id,
        "metadata": _metadata(order) or {},
        "created_at": iso(order.created_at),
    }


def _metadata(order: OrderRef) -> dict[str, Any] | None:
    """An Order names the column `order_metadata`; a row of its columns, `metadata`."""
    return order.order_metadata if isinstance(order, tables.Order) else order.metadata


def record_accepted(session: Session, orders: Sequence[tables.Order], now: datetime) -> None:
    """`order.created` and `order.confirmed` for orders written in this transaction.

    One multi-row INSERT for the batch: the orders are new, so no key can exist yet.
    """
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "tenant_id": order.tenant_id,
            "mode": order.mode,
            "type": type,
            "order_id": order.id,
            "key": f"order:{order.id}:{type.removeprefix('order.')}",
            "data": order_data(order),
            "created_at": now,
        }
        for order in orders
        for type in ACCEPTED
    ]
    if not rows:
        return
    session.execute(_INSERT_EVENT, rows)
    outbox.enqueue_many(
        session,
        [outbox.Job("fan_out_event", row["tenant_id"], {"event_id": row["id"]}) for row in rows],
        now=now,
    )


_INSERT_EVENT = sa.insert(tables.table_of(tables.Event))


def record(
    session: Session,
    *,
    order: OrderRef,
    type: str,
    key: str,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> uuid.UUID | None:
    """Record an event once per `key` and start its fan-out; None when it already existed."""
    data = order_data(order)
    for name, value in (extra or {}).items():
        data[name] = iso(value) if isinstance(value, datetime) else value
    event_id = uuid.uuid4()
    written = sql.insert_ignoring_conflict(
        session,
        tables.table_of(tables.Event),
        {
            "id": event_id,
            "tenant_id": order.tenant_id,
            "mode": order.mode,
            "type": type,
            "order_id": order.id,
            "key": key,
            "data": data,
            "created_at": now,
        },
        ["key"],
    )
    if not written:
        return None
    outbox.enqueue(session, "fan_out_event", tenant_id=order.tenant_id, event_id=event_id, now=now)
    return event_id
