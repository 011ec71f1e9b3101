"""Failing an order (a stage gave up on it) and re-opening it (an admin replayed it).

Failing moves it pending → failed, voids its hold and records `order.failed`; re-opening
moves it failed → pending, holds its price again under a new hold generation and
enqueues the stage that failed (DESIGN.md section 3).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables, transitions
from engine.domain import pricing, reasons
from engine.domain.event_types import EventType
from engine.domain.statuses import OrderStatus, RecipientStatus, Stage
from engine.services import events, holds, outbox, stages, wallet
from engine.services.context import Context

_O = tables.table_of(tables.Order)
_R = tables.table_of(tables.Recipient)


def _lock(session: Session, order_id: uuid.UUID) -> tables.Order | None:
    """The order, its row locked until the transaction ends; None when there is none."""
    return session.scalar(
        sa.select(tables.Order).where(tables.Order.id == order_id).with_for_update()
    )


def fail(
    session: Session,
    order: tables.Order,
    failure: reasons.Failure,
    now: datetime,
    *,
    stage: Stage | None = None,
) -> bool:
    """pending → failed with `failure` (code and sentence), the hold voided and
    `order.failed` recorded with both.

    `stage` is where a replay resumes (default: the order's current stage). Returns False
    (and does nothing) when the order is no longer pending.
    """
    resume = (stage or Stage(order.stage)).value
    moved = session.execute(
        transitions.move(OrderStatus.FAILED)
        .values(
            stage=resume,
            failure_code=failure.code,
            failure_reason=failure.reason[:2000],
            failed_stage=resume,
            failed_at=now,
            updated_at=now,
        )
        .returning(_O.c.id),
        {"oid": order.id},
    ).one_or_none()
    if moved is None:
        return False
    generation = order.hold_generation
    wallet.release_order(session, order, reason=OrderStatus.FAILED, now=now)
    order.status = OrderStatus.FAILED.value
    order.stage = resume
    events.record(
        session,
        order=order,
        type=EventType.ORDER_FAILED,
        key=f"order:{order.id}:failed:{generation}",
        now=now,
        extra={
            "status": OrderStatus.FAILED.value,
            "failure_code": failure.code,
            "failure_reason": failure.reason[:2000],
            # The name this payload used before failure_code; kept for existing receivers.
            "reason": failure.reason[:2000],
            "failed_at": now,
        },
    )
    return True


def fail_order(app: Context, order_id: uuid.UUID, failure: reasons.Failure) -> bool:
    """Fail a pending order in its own transaction (a stage gave up on it); `failure` is
    what the partner is told."""
    now = app.clock()
    with app.uow() as uow:
        order = _lock(uow.session, order_id)
        if order is None or order.status != OrderStatus.PENDING.value:
            return False
        failed = fail(uow.session, order, failure, now)
        uow.commit()
    return failed


def reopen(app: Context, order_id: uuid.UUID) -> bool:
    """Admin replay of a failed order: pending again, hold placed again, the stage that
    failed enqueued. Returns False when the order is not failed.

    Raises:
        InsufficientCredits: the wallet can no longer cover the order (with the shortfall).
    """
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        order = _lock(session, order_id)
        if order is None or order.status != OrderStatus.FAILED.value:
            return False
        letters = session.scalar(
            sa.select(sa.func.count()).where(
                _R.c.order_id == order_id,
                _R.c.status.in_((RecipientStatus.PENDING.value, RecipientStatus.RENDERED.value)),
            )
        )
        if not letters:
            raise errors.Conflict(
                f"Order {order_id} has no valid recipients left; a replay would send nothing.",
                suggestion="Place a new order with corrected addresses.",
            )
        if letters < order.letter_count:
            # Letters found invalid when it failed are not sent, so they are not held.
            quote = pricing.requote(order.cost_breakdown, letters)
            order.total_cents = quote.total_cents
            order.letter_count = letters
            order.cost_breakdown = quote.breakdown()
        generation = order.hold_generation + 1
        if order.total_cents:
            holds.place_hold(
                session,
                tenant_id=order.tenant_id,
                mode=order.mode,
                order_id=order.id,
                amount_cents=order.total_cents,
                now=now,
                generation=generation,
            )
        session.execute(
            transitions.move(OrderStatus.PENDING, only_from=[OrderStatus.FAILED]).values(
                hold_generation=generation,
                failure_code=None,
                failure_reason=None,
                failed_stage=None,
                failed_at=None,
                stage_changed_at=now,
                stage_attempts=0,
                updated_at=now,
            ),
            {"oid": order.id},
        )
        stage = Stage(order.stage)
        if stage in stages.NEXT_ACTOR:
            outbox.enqueue(
                session,
                stages.NEXT_ACTOR[stage],
                tenant_id=order.tenant_id,
                order_id=order.id,
                now=now,
            )
        uow.commit()
    return True
