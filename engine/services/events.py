"""Events partners can subscribe to, recorded once per happening."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.adapters import sql, tables
from engine.domain.timestamps import iso
from engine.services import outbox

EVENT_TYPES = (
    "order.confirmed",
    "order.failed",
    "order.cancelled",
    "order.completed",
    "order.shipped",
    "letter.mailed",
)


def order_data(order: Any) -> dict[str, Any]:
    """The order fields every order event carries, as in the reference payload.

    `order` is an Order or a row with its columns (stages read rows, not objects).
    """
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


def _metadata(order: Any) -> Any:
    """An Order names the column `order_metadata`; a row of its columns, `metadata`."""
    return order.order_metadata if isinstance(order, tables.Order) else order.metadata


def record(
    session: Session,
    *,
    order: Any,
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
    outbox.enqueue(session, "fan_out_event", event_id=event_id, now=now)
    return event_id
