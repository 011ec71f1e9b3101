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
        "recipient_count": order.letter_count,
        "created_at": iso(order.created_at),
    }


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
