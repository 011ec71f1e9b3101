"""The transactional outbox: work to start, written in the same transaction as its cause.

A relay publishes due rows to the broker: right after the commit that wrote them (the
process wakes its relay) and again from the scheduler for anything left behind. A row is
marked published only after the broker took it, so a crash in between publishes it twice;
every stage is idempotent, so that is harmless. The message id is the row id.

Fairness: the relay keeps at most `queue_backlog_max` messages waiting in each broker queue
and leaves the rest here, then publishes due rows round-robin by lane (a lane is one
tenant's jobs for one actor, each row ranked by age within it; lowest rank first). A
tenant's burst of 5,000 orders therefore waits here, another tenant's single order goes
to the broker on the next pass, behind at most one backlog per stage, and a tenant's
deliveries are not starved behind its own older fan-outs.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import tables
from engine.domain import queues

log = logging.getLogger("inkwell.outbox")


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
#: How many more messages a broker queue may take now (its backlog limit less what it holds).
Room = Callable[[str], int]


def enqueue(
    session: Session,
    actor_name: str,
    *,
    tenant_id: uuid.UUID | None,
    now: datetime,
    available_at: datetime | None = None,
    **args: object,
) -> uuid.UUID:
    """Record that `actor_name(**args)` must run once this transaction commits.

    `tenant_id` is whose work it is: the relay serves tenants in turn (None is a lane of
    its own, for work of no tenant's).
    """
    row_id = uuid.uuid4()
    session.execute(_INSERT, _row(row_id, actor_name, tenant_id, now, available_at, args))
    session.info[DIRTY] = True
    return row_id


@dataclass(frozen=True)
class Job:
    """One job for `enqueue_many`: `actor_name(**args)`, `tenant_id`'s work."""

    actor_name: str
    tenant_id: uuid.UUID | None
    args: dict[str, object]


def enqueue_many(session: Session, jobs: list[Job], *, now: datetime) -> None:
    """`enqueue` for many jobs due now, in one statement (intake's batches)."""
    if not jobs:
        return
    session.execute(
        _INSERT, [_row(uuid.uuid4(), j.actor_name, j.tenant_id, now, None, j.args) for j in jobs]
    )
    session.info[DIRTY] = True


def _row(
    row_id: uuid.UUID,
    actor_name: str,
    tenant_id: uuid.UUID | None,
    now: datetime,
    available_at: datetime | None,
    args: dict[str, object],
) -> dict[str, object]:
    return {
        "id": row_id,
        "tenant_id": tenant_id,
        "queue_name": queues.OF_ACTOR[actor_name].value,
        "actor_name": actor_name,
        "args": {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in args.items()},
        "created_at": now,
        "available_at": available_at or now,
        "publish_attempts": 0,
    }


#: Built once: this runs in every stage of every order.
_INSERT = sa.insert(tables.table_of(tables.OutboxMessage))


Lane = tuple[uuid.UUID | None, str]


class Lanes:
    """How much each lane (one tenant's jobs for one actor) has had lately, as one relay
    process saw it: a lane is quiet while its due rows plus what this process published
    for it in the last `window_s` are at most `quiet_max`.

    Due rows alone would not do: a burst's later stages are published as fast as they are
    written, so they never pile up in the outbox, yet they fill the queues. Each relay
    process counts only its own publishing, so a busy lane looks quieter to each of them;
    a burst of hundreds still looks busy to every one.
    """

    def __init__(
        self, quiet_max: int, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.quiet_max = quiet_max
        self.window_s = window_s
        self._clock = clock
        self._sent: dict[Lane, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def is_quiet(self, lane: Lane, waiting: int) -> bool:
        if waiting > self.quiet_max:
            return False
        with self._lock:
            return waiting + len(self._recent(lane)) <= self.quiet_max

    def published(self, lane: Lane) -> None:
        with self._lock:
            self._sent.setdefault(lane, collections.deque()).append(self._clock())
            self._recent(lane)  # a busy lane is never asked, so trim it here
            if len(self._sent) > 10_000:  # forget lanes gone quiet
                for key in [k for k, v in self._sent.items() if not self._recent(k)]:
                    del self._sent[key]

    def _recent(self, lane: Lane) -> collections.deque[float]:
        sent = self._sent.get(lane, collections.deque())
        horizon = self._clock() - self.window_s
        while sent and sent[0] < horizon:
            sent.popleft()
        return sent


def relay_batch(
    session_factory: Callable[[], Session],
    publish: Publish,
    now: datetime,
    *,
    queue_name: str,
    room: Room,
    limit: int = 500,
    lanes: Lanes | None = None,
) -> int:
    """Publish up to `limit` due rows of one queue, no more than it has room for, tenants
    in turn; returns how many. Safe to run in many processes: on PostgreSQL one relay at
    a time fills a queue, so the room it measured is still there when it publishes.

    With `lanes`, a row of a quiet lane (`Lanes.is_quiet`) goes to the queue's express
    twin while that has room: a tenant with a few jobs is not queued behind another's
    thousands, in the broker or in the workers' hands."""
    express_queue = queues.express(queue_name)
    if room(queue_name) <= 0 and (lanes is None or room(express_queue) <= 0):
        return 0  # full: no need to ask the database
    with session_factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(_LOCK_QUEUE, {"key": _lock_key(queue_name)})
        plain_room = min(limit, room(queue_name))
        express_room = min(limit, room(express_queue)) if lanes is not None else 0
        wanted = plain_room + express_room
        rows = (
            session.execute(
                _FAIR_DUE,
                {
                    "q": queue_name,
                    "now": now,
                    "n": wanted,
                    "light": lanes.quiet_max if lanes else 0,
                },
            ).all()
            if wanted > 0
            else []
        )
        if not rows:
            # COMMIT, not the ROLLBACK of closing: psycopg forgets every statement it has
            # prepared on the connection after a ROLLBACK (and sends DEALLOCATE ALL), and
            # this empty pass runs many times a second.
            session.commit()
            return 0
        published: list[uuid.UUID] = []
        try:
            for row_id, tenant_id, actor_name, args, waiting in rows:
                lane = (tenant_id, actor_name)
                if express_room > 0 and lanes is not None and lanes.is_quiet(lane, waiting):
                    express_room -= 1
                    envelope = Envelope(
                        str(row_id), express_queue, queues.express(actor_name), dict(args)
                    )
                elif plain_room > 0:
                    plain_room -= 1
                    envelope = Envelope(str(row_id), queue_name, actor_name, dict(args))
                else:
                    continue  # its queue is full; it waits for the next pass
                publish(envelope)
                published.append(row_id)
                if lanes is not None:
                    lanes.published(lane)
        finally:
            if published:
                _mark(session, published, now)
            session.commit()
        return len(published)


def _lock_key(queue_name: str) -> int:
    """A stable advisory-lock key per queue (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.sha256(b"outbox:" + queue_name.encode()).digest()[:8], "big") >> 1


_O = tables.table_of(tables.OutboxMessage)
_DUE = sa.and_(
    _O.c.published_at.is_(None),
    _O.c.available_at <= sa.bindparam("now"),
    _O.c.queue_name == sa.bindparam("q"),
)
_RANKED = (
    sa.select(
        _O.c.id,
        _O.c.available_at,
        sa.func.row_number()
        .over(
            partition_by=(_O.c.tenant_id, _O.c.actor_name),
            order_by=(_O.c.available_at, _O.c.id),
        )
        .label("turn"),
        sa.func.count().over(partition_by=(_O.c.tenant_id, _O.c.actor_name)).label("lane_size"),
    )
    .where(_DUE)
    .subquery("ranked")
)
#: The `n` rows whose turn comes first: each tenant's oldest due row, then each one's
#: second, and so on; within a turn, rows of light lanes (at most `light` due rows, likely
#: bound for the express queue) first. Ranked on ids alone (the index `ix_outbox_fair`
#: hands the rows over in partition order), cut to `n`, and only then joined back for
#: their arguments.
_HEAVY = _RANKED.c.lane_size > sa.bindparam("light")
_PICK = (
    sa.select(_RANKED.c.id, _RANKED.c.turn, _RANKED.c.available_at, _RANKED.c.lane_size)
    .order_by(_RANKED.c.turn, _HEAVY, _RANKED.c.available_at)
    .limit(sa.bindparam("n"))
    .subquery("pick")
)
#: PostgreSQL locks rows of a plain join, not of a window: hence the two subqueries.
_FAIR_DUE = (
    sa.select(_O.c.id, _O.c.tenant_id, _O.c.actor_name, _O.c.args, _PICK.c.lane_size)
    .join(_PICK, _PICK.c.id == _O.c.id)
    .order_by(_PICK.c.turn, _PICK.c.available_at)
    .with_for_update(of=_O, skip_locked=True)
)
_LOCK_QUEUE = sa.text("SELECT pg_advisory_xact_lock(:key)")


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
