"""The transactional outbox: work to start, written in the same transaction as its cause."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from engine.adapters import tables

#: Which queue each pipeline actor listens on (DESIGN section 3).
ACTOR_QUEUES: dict[str, str] = {
    "check_addresses": "pipeline",
    "render_order": "render",
    "capture_order": "pipeline",
    "fan_out_event": "webhooks",
    "deliver_webhook": "webhooks",
}


def enqueue(
    session: Session,
    actor_name: str,
    *,
    now: datetime,
    available_at: datetime | None = None,
    **args: object,
) -> tables.OutboxMessage:
    """Record that `actor_name(**args)` must run once this transaction commits."""
    row = tables.OutboxMessage(
        id=uuid.uuid4(),
        queue_name=ACTOR_QUEUES[actor_name],
        actor_name=actor_name,
        args={k: str(v) if isinstance(v, uuid.UUID) else v for k, v in args.items()},
        created_at=now,
        available_at=available_at or now,
    )
    session.add(row)
    return row
