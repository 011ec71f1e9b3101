"""The pipeline's stages: check addresses, render, capture (DESIGN.md section 3).

Each stage loads the order, does nothing unless the order is pending and at the stage's
expected `stage`, and ends with a compare-and-set on that stage, writing the next job to
the outbox in the same transaction. A duplicate or replayed message is therefore harmless.
"""

from __future__ import annotations

import enum
import logging
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import letter_pdf, tables, transitions
from engine.adapters.storage import Storage
from engine.domain import addresses, merge, pricing, reasons
from engine.domain.event_types import EventType
from engine.domain.statuses import (
    OrderStatus,
    RecipientStatus,
    Stage,
)
from engine.services import events, holds, outbox, wallet
from engine.services.context import Context

log = logging.getLogger("inkwell.pipeline")

#: The actor that moves an order out of each stage.
NEXT_ACTOR: dict[Stage, str] = {
    Stage.RECEIVED: "check_addresses",
    Stage.ADDRESSES_CHECKED: "render_order",
    Stage.RENDERED: "capture_order",
}
#: The stage each pipeline actor expects to find.
ACTOR_STAGE = {actor: stage for stage, actor in NEXT_ACTOR.items()}


class Outcome(enum.StrEnum):
    DONE = "done"
    #: Nothing to do: the order is past this stage, or no longer pending.
    SKIPPED = "skipped"
    #: Too early (capture before `cancellable_until`); enqueued again for later.
    DEFERRED = "deferred"
    #: The order failed in this stage.
    FAILED = "failed"


_O = tables.table_of(tables.Order)
_R = tables.table_of(tables.Recipient)

#: Built once (they run for every order): claim a stage, read state, mark letters.
_CLAIM = (
    sa.update(_O)
    .where(
        _O.c.id == sa.bindparam("oid"),
        _O.c.status == OrderStatus.PENDING.value,
        _O.c.stage == sa.bindparam("src"),
    )
    .values(
        stage=sa.bindparam("dst"),
        stage_changed_at=sa.bindparam("now"),
        stage_attempts=0,
        updated_at=sa.bindparam("now"),
    )
    .returning(*_O.c)
)
_CAPTURE = (
    transitions.move(OrderStatus.PROCESSING)
    .where(
        _O.c.stage == Stage.RENDERED.value,
        _O.c.cancellable_until <= sa.bindparam("now"),
    )
    .values(
        stage=Stage.CAPTURED.value,
        stage_changed_at=sa.bindparam("now"),
        stage_attempts=0,
        confirmed_at=sa.bindparam("now"),
        updated_at=sa.bindparam("now"),
    )
    .returning(*_O.c)
)
_ORDER_STATE = sa.select(
    _O.c.status, _O.c.stage, _O.c.message_body, _O.c.cancellable_until, _O.c.tenant_id
).where(_O.c.id == sa.bindparam("oid"))
_PENDING_RECIPIENTS = (
    sa.select(_R)
    .where(_R.c.order_id == sa.bindparam("oid"), _R.c.status == sa.bindparam("status"))
    .order_by(_R.c.position)
)
_LETTERS = (
    sa.select(_R)
    .where(
        _R.c.order_id == sa.bindparam("oid"),
        _R.c.status.in_((RecipientStatus.PENDING.value, RecipientStatus.RENDERED.value)),
    )
    .order_by(_R.c.position)
)
_MARK_INVALID = (
    sa.update(_R)
    .where(_R.c.id == sa.bindparam("rid"))
    .values(
        status=RecipientStatus.INVALID.value,
        invalid_reason=sa.bindparam("reason"),
        updated_at=sa.bindparam("now"),
    )
)
_MARK_RENDERED = (
    sa.update(_R)
    .where(_R.c.id == sa.bindparam("rid"), _R.c.status == RecipientStatus.PENDING.value)
    .values(
        status=RecipientStatus.RENDERED.value,
        pdf_path=sa.bindparam("path"),
        updated_at=sa.bindparam("now"),
    )
)


def _claim(
    session: Session, order_id: uuid.UUID, src: Stage, dst: Stage, now: datetime
) -> sa.Row[Any] | None:
    """Compare-and-set the order from `src` to `dst`; None when it was not pending at `src`."""
    return session.execute(
        _CLAIM, {"oid": order_id, "src": src.value, "dst": dst.value, "now": now}
    ).one_or_none()


def _lock(session: Session, order_id: uuid.UUID) -> tables.Order | None:
    return session.scalar(
        sa.select(tables.Order).where(tables.Order.id == order_id).with_for_update()
    )


def _at(order: Any, stage: Stage) -> bool:
    return (
        order is not None
        and order.status == OrderStatus.PENDING.value
        and order.stage == stage.value
    )


def _merge_fields(r: Any) -> dict[str, object]:
    fields = {k: v for k, v in addresses.fields_of(r).items() if k != "custom_fields"}
    fields.update(r.custom_fields or {})
    return fields


def check_addresses(app: Context, order_id: uuid.UUID) -> Outcome:
    """Check every pending recipient; mark the invalid ones with their reason.

    With `skip_invalid` the rest go on and the hold shrinks to their price; otherwise (or
    when no one is left) the order fails and its hold is voided.
    """
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        claimed = _claim(session, order_id, Stage.RECEIVED, Stage.ADDRESSES_CHECKED, now)
        if claimed is None:
            return Outcome.SKIPPED
        recipients = session.execute(
            _PENDING_RECIPIENTS, {"oid": order_id, "status": RecipientStatus.PENDING.value}
        ).all()
        rejected: list[tuple[int, str]] = []
        for r in recipients:
            problems = addresses.check_recipient(dict(r._mapping))
            if problems:
                reason = "; ".join(error for _, error in problems)
                session.execute(_MARK_INVALID, {"rid": r.id, "reason": reason, "now": now})
                rejected.append((r.position, reason))
        if rejected:
            valid = len(recipients) - len(rejected)
            order = session.get(tables.Order, order_id)
            assert order is not None
            if not claimed.skip_invalid or not valid:
                failure = reasons.invalid_addresses(rejected, recipients=len(recipients))
                fail(session, order, failure, now, stage=Stage.RECEIVED)
                uow.commit()
                return Outcome.FAILED
            _shrink_hold(session, order, valid, now)
        outbox.enqueue(
            session, "render_order", tenant_id=claimed.tenant_id, order_id=order_id, now=now
        )
        uow.commit()
    return Outcome.DONE


def _shrink_hold(session: Session, order: tables.Order, count: int, now: datetime) -> None:
    """Hold only what `count` letters cost, at the prices the order was accepted at."""
    quote = pricing.requote(order.cost_breakdown, count)
    wallet.release_order(
        session,
        order,
        reason="skipped_recipients",
        amount_cents=order.total_cents - quote.total_cents,
        now=now,
    )
    order.total_cents = quote.total_cents
    order.letter_count = count
    order.cost_breakdown = quote.breakdown()
    order.updated_at = now


def render_order(app: Context, order_id: uuid.UUID) -> Outcome:
    """Write one PDF per valid letter under STORAGE_DIR, then move the order to `rendered`.

    Drawing happens outside any transaction; files are written atomically under stable
    names, so a repeated run overwrites rather than duplicates.
    """
    with app.uow() as uow:
        order = uow.session.execute(_ORDER_STATE, {"oid": order_id}).one_or_none()
        if order is None or not _at(order, Stage.ADDRESSES_CHECKED):
            return Outcome.SKIPPED
        letters = uow.session.execute(_LETTERS, {"oid": order_id}).all()
    storage = Storage(app.settings.storage_dir)
    written: list[dict[str, object]] = []
    now = app.clock()
    for r in letters:
        text = merge.merge(order.message_body, _merge_fields(r))
        pdf = letter_pdf.render(text, address_lines(r), title=f"Order {order_id}")
        path = storage.write_atomic(storage.letter_path(order_id, r.id), pdf)
        written.append({"rid": r.id, "path": str(path.relative_to(storage.root)), "now": now})
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        claimed = _claim(session, order_id, Stage.ADDRESSES_CHECKED, Stage.RENDERED, now)
        if claimed is None:
            return Outcome.SKIPPED
        if written:
            session.execute(_MARK_RENDERED, written)
        outbox.enqueue(
            session,
            "capture_order",
            tenant_id=claimed.tenant_id,
            order_id=order_id,
            now=now,
            available_at=claimed.cancellable_until,
        )
        uow.commit()
    return Outcome.DONE


def address_lines(r: Any) -> list[str]:
    lines = [f"{r.first_name or ''} {r.last_name or ''}".strip(), r.address_line1 or ""]
    if r.address_line2:
        lines.append(r.address_line2)
    city_line = ", ".join(part for part in (r.city, r.state) if part)
    lines.append(f"{city_line} {r.zip or ''}".strip())
    if r.country and r.country != "US":
        lines.append(r.country)
    return [line for line in lines if line]


def capture_order(app: Context, order_id: uuid.UUID) -> Outcome:
    """Once `cancellable_until` has passed: hold → debit, pending → processing, and
    `order.in_production` recorded, all in one transaction (`order.confirmed` was
    recorded at intake)."""
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        order = session.execute(_CAPTURE, {"oid": order_id, "now": now}).one_or_none()
        if order is None:
            state = session.execute(_ORDER_STATE, {"oid": order_id}).one_or_none()
            if state is None or not _at(state, Stage.RENDERED):
                return Outcome.SKIPPED
            # Too early (a replay, or a clock ahead of ours): come back when it is time.
            outbox.enqueue(
                session,
                "capture_order",
                tenant_id=state.tenant_id,
                order_id=order_id,
                now=now,
                available_at=state.cancellable_until,
            )
            uow.commit()
            return Outcome.DEFERRED
        events.record(
            session,
            order=order,
            type=EventType.ORDER_IN_PRODUCTION,
            key=f"order:{order_id}:in_production",
            now=now,
        )
        # Last before commit: the tenant's wallet row is hot, so hold its lock briefly.
        wallet.capture(
            session,
            tenant_id=order.tenant_id,
            mode=order.mode,
            order_id=order_id,
            amount_cents=order.total_cents,
            now=now,
        )
        uow.commit()
    return Outcome.DONE


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
        if stage in NEXT_ACTOR:
            outbox.enqueue(
                session, NEXT_ACTOR[stage], tenant_id=order.tenant_id, order_id=order.id, now=now
            )
        uow.commit()
    return True
