"""Find work that stalled (a lost message, a killed worker) and start it again.

Postgres is the source of truth: an order whose stage has not moved past its deadline or
an event never fanned out is enqueued again (with backoff, for orders); a delivery due but
not being sent counts a failed attempt, and its next one is scheduled by the delivery
backoff. Every stage is idempotent, so a sweep that races a slow worker costs one wasted
run.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import tables
from engine.domain import reasons
from engine.domain.statuses import DELIVERY_OPEN, OrderStatus, Stage
from engine.services import attempts, jobs, outbox, pipeline
from engine.services.context import Context

log = logging.getLogger("inkwell.sweeper")

#: After this many re-enqueues of one stage, the order fails instead of looping forever.
#: Re-enqueues back off exponentially (deadline x 2^n), so a long queue is not mistaken for
#: a stuck order: with the default 60 s deadline, giving up takes about 34 hours.
MAX_STAGE_ATTEMPTS = 10
BATCH = 200


@dataclass(frozen=True)
class SweepReport:
    orders_requeued: int = 0
    orders_failed: int = 0
    events_requeued: int = 0
    deliveries_requeued: int = 0

    @property
    def total(self) -> int:
        return (
            self.orders_requeued
            + self.orders_failed
            + self.events_requeued
            + self.deliveries_requeued
        )


def sweep(app: Context) -> SweepReport:
    requeued, failed = _orders(app)
    return SweepReport(
        orders_requeued=requeued,
        orders_failed=failed,
        events_requeued=_events(app),
        deliveries_requeued=_deliveries(app),
    )


def _orders(app: Context) -> tuple[int, int]:
    now = app.clock()
    deadline = now - timedelta(seconds=app.settings.stage_deadline_s)
    o = tables.Order
    requeued = failed = 0
    with app.uow() as uow:
        session = uow.session
        stuck = session.scalars(
            sa.select(o)
            .where(
                o.status == OrderStatus.PENDING.value,
                o.stage.in_([s.value for s in pipeline.NEXT_ACTOR]),
                o.stage_changed_at < deadline,
                # Capture waits for the cancel window; it is late only after that.
                sa.or_(o.stage != Stage.RENDERED.value, o.cancellable_until < deadline),
            )
            .order_by(o.stage_changed_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        give_up: list[tuple[uuid.UUID, str, str]] = []
        # An order whose next job still waits in our outbox (the relay holds it back while
        # its queue is full, serving tenants in turn) is queued, not stalled.
        waiting = _waiting_in_outbox(session, "order_id", [order.id for order in stuck])
        for order in stuck:
            if order.id in waiting:
                continue
            if order.stage_attempts >= MAX_STAGE_ATTEMPTS:
                reason = (
                    f"Stage {order.stage} did not complete after {order.stage_attempts} attempts"
                )
                give_up.append((order.id, pipeline.NEXT_ACTOR[Stage(order.stage)], reason))
                continue
            order.stage_attempts += 1
            # Pushed ahead to back off: the next sweep of this stage is due only after
            # deadline x 2^attempts (the message may simply be waiting in a long queue).
            backoff_s = app.settings.stage_deadline_s * (2**order.stage_attempts - 1)
            order.stage_changed_at = now + timedelta(seconds=backoff_s)
            outbox.enqueue(
                session,
                pipeline.NEXT_ACTOR[Stage(order.stage)],
                tenant_id=order.tenant_id,
                order_id=order.id,
                now=now,
            )
            requeued += 1
        uow.commit()
    # Each give-up in its own transaction: failing locks the order's wallet, and one
    # transaction locking many wallets in no fixed order could deadlock with others.
    for order_id, actor, reason in give_up:
        if pipeline.fail_order(app, order_id, reasons.stalled(actor)):
            with app.uow() as uow:
                # On record as a failed run of the stage, so an admin finds it with
                # `inkwell jobs failed` and can replay it.
                jobs.record_failure(
                    uow.session, actor=actor, order_id=order_id, error=reason, now=now
                )
                uow.commit()
            failed += 1
    if requeued or failed:
        log.warning("sweeper: %d stalled orders re-enqueued, %d failed", requeued, failed)
    return requeued, failed


def _events(app: Context) -> int:
    now = app.clock()
    deadline = now - timedelta(seconds=app.settings.stage_deadline_s)
    e = tables.Event
    with app.uow() as uow:
        found = uow.session.execute(
            sa.select(e.id, e.tenant_id)
            .where(e.fanned_out_at.is_(None), e.created_at < deadline)
            .order_by(e.seq)
            .limit(BATCH)
        ).all()
        waiting = _waiting_in_outbox(uow.session, "event_id", [row[0] for row in found])
        ids = [(event_id, tenant_id) for event_id, tenant_id in found if event_id not in waiting]
        for event_id, tenant_id in ids:
            outbox.enqueue(
                uow.session, "fan_out_event", tenant_id=tenant_id, event_id=event_id, now=now
            )
        uow.commit()
    return len(ids)


def _deliveries(app: Context) -> int:
    """Deliveries due but not moving. Each counts one failed attempt, and the next is
    scheduled by the delivery backoff (or the delivery fails when the schedule is spent),
    so a stalled delivery is swept once per backoff step, never on every pass:

    - one whose claim ran out unrecorded (its worker died mid-send) was attempted;
    - one due for longer than the stage deadline and never claimed lost its job before
      it ran. One whose job is still waiting in our outbox (the relay holds it back while
      its broker queue is full) is not lost, and is left alone.
    """
    now = app.clock()
    deadline = now - timedelta(seconds=app.settings.stage_deadline_s)
    d = tables.WebhookDelivery
    open_ = d.status.in_([s.value for s in DELIVERY_OPEN])
    with app.uow() as uow:
        lost = uow.session.execute(
            sa.select(d.id, d.attempts, d.endpoint_id, d.tenant_id)
            .where(open_, d.lease_until.is_not(None), d.lease_until < now)
            .limit(BATCH)
        ).all()
        due = sa.func.coalesce(d.next_attempt_at, d.created_at)
        stalled = list(
            uow.session.scalars(
                sa.select(d.id)
                .where(open_, d.lease_until.is_(None), due < deadline)
                .order_by(due)
                .limit(BATCH)
            )
        )
        waiting = _waiting_in_outbox(uow.session, "delivery_id", stalled)
    # Each in its own transaction, as an attempt is recorded by a worker.
    for delivery_id, attempt, endpoint_id, tenant_id in lost:
        attempts.record_lost(app, delivery_id, attempt, endpoint_id, tenant_id)
    swept = len(lost)
    for delivery_id in stalled:
        if delivery_id in waiting:
            continue
        if attempts.record_unstarted(app, delivery_id, deadline) != "skipped":
            swept += 1
    if swept:
        log.warning("sweeper: %d stalled delivery attempts counted as failed", swept)
    return swept


def _waiting_in_outbox(session: Session, arg: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these (orders, events or deliveries, named by the job argument `arg`) have
    a job still unpublished in the outbox: queued behind the relay's fairness, not lost."""
    if not ids:
        return set()
    o = tables.OutboxMessage
    named = o.args[arg].as_string()
    found = session.scalars(
        sa.select(named).where(o.published_at.is_(None), named.in_([str(i) for i in ids]))
    )
    return {uuid.UUID(v) for v in found}
