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
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import letter_pdf, tables
from engine.adapters.storage import Storage
from engine.bootstrap import Inkwell
from engine.domain import addresses, merge, pricing
from engine.domain.statuses import (
    EnvelopeType,
    OrderStatus,
    PaperType,
    ProductType,
    RecipientStatus,
    Stage,
)
from engine.services import events, orders, outbox, tenants, wallet

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


def _lock(session: Session, order_id: uuid.UUID) -> tables.Order | None:
    return session.scalar(
        sa.select(tables.Order).where(tables.Order.id == order_id).with_for_update()
    )


def _at(order: tables.Order | None, stage: Stage) -> bool:
    return (
        order is not None
        and order.status == OrderStatus.PENDING.value
        and order.stage == stage.value
    )


def _advance(session: Session, order: tables.Order, src: Stage, dst: Stage, now: datetime) -> None:
    o = tables.Order
    moved = session.execute(
        sa.update(o)
        .where(o.id == order.id, o.stage == src.value, o.status == OrderStatus.PENDING.value)
        .values(stage=dst.value, stage_changed_at=now, stage_attempts=0, updated_at=now)
        .returning(o.id)
    ).one_or_none()
    if moved is None:
        raise errors.StaleState("order", order.id)


def recipient_fields(r: tables.Recipient) -> dict[str, object]:
    return {
        "first_name": r.first_name,
        "last_name": r.last_name,
        "address_line1": r.address_line1,
        "address_line2": r.address_line2,
        "city": r.city,
        "state": r.state,
        "zip": r.zip,
        "country": r.country,
        "custom_fields": r.custom_fields,
    }


def _merge_fields(r: tables.Recipient) -> dict[str, object]:
    fields = {k: v for k, v in recipient_fields(r).items() if k != "custom_fields"}
    fields.update(r.custom_fields or {})
    return fields


def check_addresses(app: Inkwell, order_id: uuid.UUID) -> Outcome:
    """Check every pending recipient; mark the invalid ones with their reason.

    With `skip_invalid` the rest go on and the hold shrinks to their price; otherwise (or
    when no one is left) the order fails and its hold is voided.
    """
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        order = _lock(session, order_id)
        if order is None or not _at(order, Stage.RECEIVED):
            return Outcome.SKIPPED
        recipients = orders.recipients_of(session, order.id)
        rejected: list[str] = []
        for r in recipients:
            if r.status != RecipientStatus.PENDING.value:
                continue
            problems = addresses.check_recipient(recipient_fields(r))
            if problems:
                r.status = RecipientStatus.INVALID.value
                r.invalid_reason = "; ".join(error for _, error in problems)
                r.updated_at = now
                rejected.append(f"recipient {r.position}: {r.invalid_reason}")
        valid = [r for r in recipients if r.status == RecipientStatus.PENDING.value]
        if rejected and (not order.skip_invalid or not valid):
            fail(session, order, f"Address check failed: {'; '.join(rejected)}", now)
            uow.commit()
            return Outcome.FAILED
        if rejected:
            _shrink_hold(session, order, len(valid), now)
        _advance(session, order, Stage.RECEIVED, Stage.ADDRESSES_CHECKED, now)
        outbox.enqueue(session, "render_order", order_id=order.id, now=now)
        uow.commit()
    return Outcome.DONE


def _shrink_hold(session: Session, order: tables.Order, count: int, now: datetime) -> None:
    tenant = tenants.get_tenant(session, order.tenant_id)
    quote = pricing.quote(
        tenants.price_list(tenant),
        product=ProductType(order.product_type),
        paper=PaperType(order.paper_type),
        envelope=EnvelopeType(order.envelope_type),
        count=count,
    )
    wallet.release_hold(
        session,
        tenant_id=order.tenant_id,
        mode=order.mode,
        order_id=order.id,
        amount_cents=order.total_cents - quote.total_cents,
        reason="skipped_recipients",
        attempt=order.hold_generation,
        now=now,
    )
    order.total_cents = quote.total_cents
    order.letter_count = count
    order.cost_breakdown = quote.breakdown()
    order.updated_at = now


def render_order(app: Inkwell, order_id: uuid.UUID) -> Outcome:
    """Write one PDF per valid letter under STORAGE_DIR, then move the order to `rendered`.

    Drawing happens outside any transaction; files are written atomically under stable
    names, so a repeated run overwrites rather than duplicates.
    """
    with app.uow() as uow:
        order = uow.session.get(tables.Order, order_id)
        if order is None or not _at(order, Stage.ADDRESSES_CHECKED):
            return Outcome.SKIPPED
        letters = [
            r
            for r in orders.recipients_of(uow.session, order.id)
            if r.status in (RecipientStatus.PENDING.value, RecipientStatus.RENDERED.value)
        ]
    storage = Storage(app.settings.storage_dir)
    written: dict[uuid.UUID, str] = {}
    for r in letters:
        text = merge.merge(order.message_body, _merge_fields(r))
        pdf = letter_pdf.render(text, address_lines(r), title=f"Order {order.id}")
        path = storage.write_atomic(storage.letter_path(order.id, r.id), pdf)
        written[r.id] = str(path.relative_to(storage.root))
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        order = _lock(session, order_id)
        if order is None or not _at(order, Stage.ADDRESSES_CHECKED):
            return Outcome.SKIPPED
        for recipient_id, path_text in written.items():
            session.execute(
                sa.update(tables.Recipient)
                .where(
                    tables.Recipient.id == recipient_id,
                    tables.Recipient.status == RecipientStatus.PENDING.value,
                )
                .values(status=RecipientStatus.RENDERED.value, pdf_path=path_text, updated_at=now)
            )
        _advance(session, order, Stage.ADDRESSES_CHECKED, Stage.RENDERED, now)
        outbox.enqueue(
            session,
            "capture_order",
            order_id=order.id,
            now=now,
            available_at=order.cancellable_until,
        )
        uow.commit()
    return Outcome.DONE


def address_lines(r: tables.Recipient) -> list[str]:
    lines = [f"{r.first_name or ''} {r.last_name or ''}".strip(), r.address_line1 or ""]
    if r.address_line2:
        lines.append(r.address_line2)
    city_line = ", ".join(part for part in (r.city, r.state) if part)
    lines.append(f"{city_line} {r.zip or ''}".strip())
    if r.country and r.country != "US":
        lines.append(r.country)
    return [line for line in lines if line]


def capture_order(app: Inkwell, order_id: uuid.UUID) -> Outcome:
    """Once `cancellable_until` has passed: hold → debit, pending → processing, and
    `order.confirmed` recorded, all in one transaction."""
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        order = _lock(session, order_id)
        if order is None or not _at(order, Stage.RENDERED):
            return Outcome.SKIPPED
        if now < order.cancellable_until:
            outbox.enqueue(
                session,
                "capture_order",
                order_id=order.id,
                now=now,
                available_at=order.cancellable_until,
            )
            uow.commit()
            return Outcome.DEFERRED
        o = tables.Order
        moved = session.execute(
            sa.update(o)
            .where(
                o.id == order.id,
                o.status == OrderStatus.PENDING.value,
                o.stage == Stage.RENDERED.value,
            )
            .values(
                status=OrderStatus.PROCESSING.value,
                stage=Stage.CAPTURED.value,
                stage_changed_at=now,
                stage_attempts=0,
                confirmed_at=now,
                updated_at=now,
            )
            .returning(o.id)
        ).one_or_none()
        if moved is None:
            raise errors.StaleState("order", order.id)
        wallet.capture(
            session,
            tenant_id=order.tenant_id,
            mode=order.mode,
            order_id=order.id,
            amount_cents=order.total_cents,
            now=now,
        )
        order.status = OrderStatus.PROCESSING.value
        events.record(
            session,
            order=order,
            type="order.confirmed",
            key=f"order:{order.id}:confirmed",
            now=now,
            extra={"status": OrderStatus.PROCESSING.value, "confirmed_at": now},
        )
        uow.commit()
    return Outcome.DONE


def fail(session: Session, order: tables.Order, reason: str, now: datetime) -> bool:
    """pending → failed with `reason`, the hold voided and `order.failed` recorded.

    Returns False (and does nothing) when the order is no longer pending.
    """
    o = tables.Order
    moved = session.execute(
        sa.update(o)
        .where(o.id == order.id, o.status == OrderStatus.PENDING.value)
        .values(
            status=OrderStatus.FAILED.value,
            failure_reason=reason[:2000],
            failed_stage=order.stage,
            failed_at=now,
            updated_at=now,
        )
        .returning(o.id)
    ).one_or_none()
    if moved is None:
        return False
    generation = order.hold_generation
    wallet.release_hold(
        session,
        tenant_id=order.tenant_id,
        mode=order.mode,
        order_id=order.id,
        amount_cents=order.total_cents,
        reason="failed",
        attempt=generation,
        now=now,
    )
    order.status = OrderStatus.FAILED.value
    events.record(
        session,
        order=order,
        type="order.failed",
        key=f"order:{order.id}:failed:{generation}",
        now=now,
        extra={"status": OrderStatus.FAILED.value, "reason": reason[:500], "failed_at": now},
    )
    return True


def fail_order(app: Inkwell, order_id: uuid.UUID, reason: str) -> bool:
    """Fail a pending order in its own transaction (a stage gave up on it)."""
    now = app.clock()
    with app.uow() as uow:
        order = _lock(uow.session, order_id)
        if order is None or order.status != OrderStatus.PENDING.value:
            return False
        failed = fail(uow.session, order, reason, now)
        uow.commit()
    return failed


def reopen(app: Inkwell, order_id: uuid.UUID) -> bool:
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
        generation = order.hold_generation + 1
        if order.total_cents:
            wallet.place_hold(
                session,
                tenant_id=order.tenant_id,
                mode=order.mode,
                order_id=order.id,
                amount_cents=order.total_cents,
                now=now,
                generation=generation,
            )
        o = tables.Order
        session.execute(
            sa.update(o)
            .where(o.id == order.id, o.status == OrderStatus.FAILED.value)
            .values(
                status=OrderStatus.PENDING.value,
                hold_generation=generation,
                failure_reason=None,
                failed_stage=None,
                failed_at=None,
                stage_changed_at=now,
                stage_attempts=0,
                updated_at=now,
            )
        )
        stage = Stage(order.stage)
        if stage in NEXT_ACTOR:
            outbox.enqueue(session, NEXT_ACTOR[stage], order_id=order.id, now=now)
        uow.commit()
    return True


def letter_file(app: Inkwell, relative: str) -> Path:
    return Path(app.settings.storage_dir) / relative
