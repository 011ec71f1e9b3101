"""The transactional outbox: work to start, written in the same transaction as its cause.

A relay publishes due rows to the broker: right after the commit that wrote them (the
process wakes its relay) and again from the scheduler for anything left behind. A row is
marked published only after the broker took it, so a crash in between publishes it twice;
every stage is idempotent, so that is harmless. The message id is the row id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import tables

log = logging.getLogger("inkwell.outbox")

#: Which queue each pipeline actor listens on (DESIGN section 3).
ACTOR_QUEUES: dict[str, str] = {
    "check_addresses": "pipeline",
    "render_order": "render",
    "capture_order": "pipeline",
    "fan_out_event": "webhooks",
    "deliver_webhook": "webhooks",
}

#: `session.info` flag: this transaction wrote outbox rows, so wake the relay after commit.
DIRTY = "outbox_dirty"


@dataclass(frozen=True)
class Envelope:
    """One outbox row as the publisher sees it."""

    message_id: str
    queue_name: str
    actor_name: str
    args: dict[str, Any]


Publish = Callable[[Envelope], None]


def enqueue(
    session: Session,
    actor_name: str,
    *,
    now: datetime,
    available_at: datetime | None = None,
    **args: object,
) -> uuid.UUID:
    """Record that `actor_name(**args)` must run once this transaction commits."""
    row_id = uuid.uuid4()
    session.execute(
        _INSERT,
        {
            "id": row_id,
            "queue_name": ACTOR_QUEUES[actor_name],
            "actor_name": actor_name,
            "args": {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in args.items()},
            "created_at": now,
            "available_at": available_at or now,
            "publish_attempts": 0,
        },
    )
    session.info[DIRTY] = True
    return row_id


#: Built once: this runs in every stage of every order.
_INSERT = sa.insert(tables.table_of(tables.OutboxMessage))


def relay_batch(
    session_factory: Callable[[], Session],
    publish: Publish,
    now: datetime,
    *,
    limit: int = 500,
) -> int:
    """Publish up to `limit` due rows; returns how many. Safe to run in many processes."""
    o = tables.OutboxMessage
    with session_factory() as session:
        rows = session.execute(
            sa.select(o.id, o.queue_name, o.actor_name, o.args)
            .where(o.published_at.is_(None), o.available_at <= now)
            .order_by(o.available_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return 0
        published: list[uuid.UUID] = []
        try:
            for row_id, queue_name, actor_name, args in rows:
                publish(Envelope(str(row_id), queue_name, actor_name, dict(args)))
                published.append(row_id)
        finally:
            if published:
                _mark(session, published, now)
                session.commit()
        return len(published)


def _mark(session: Session, ids: list[uuid.UUID], now: datetime) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Losing this mark in a crash only republishes; no need to wait for the disk.
        session.execute(sa.text("SET LOCAL synchronous_commit = off"))
    o = tables.OutboxMessage
    session.execute(
        sa.update(o)
        .where(o.id.in_(ids))
        .values(published_at=now, publish_attempts=o.publish_attempts + 1)
    )


def purge_published(session: Session, before: datetime) -> int:
    """Drop rows published before `before`; the job records keep the history."""
    o = tables.OutboxMessage
    result = session.execute(
        sa.delete(o).where(o.published_at.is_not(None), o.published_at < before)
    )
    return int(getattr(result, "rowcount", 0) or 0)
