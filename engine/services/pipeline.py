"""The pipeline's stages: check addresses, render, capture (DESIGN.md section 3).

Each stage loads the order, does nothing unless the order is pending and at the stage's
expected `stage`, and ends with a compare-and-set on that stage, writing the next job to
the outbox in the same transaction. A duplicate or replayed message is therefore harmless.

What the stages share (the actor per stage, `Outcome`, the claim) is in `stages`; failing
and re-opening an order in `failures`. Both are named here too, as callers use them:
`pipeline.NEXT_ACTOR`, `pipeline.fail_order`, `pipeline.reopen`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import letter_pdf, tables, transitions
from engine.adapters.storage import Storage
from engine.domain import addresses, merge, pricing, reasons
from engine.domain.event_types import EventType
from engine.domain.statuses import OrderStatus, RecipientStatus, Stage
from engine.services import events, outbox, stages, wallet
from engine.services.context import Context
from engine.services.failures import fail, fail_order, reopen
from engine.services.stages import ACTOR_STAGE, NEXT_ACTOR, Outcome

__all__ = [
    "ACTOR_STAGE",
    "NEXT_ACTOR",
    "Outcome",
    "address_lines",
    "capture_order",
    "check_addresses",
    "fail",
    "fail_order",
    "render_order",
    "reopen",
]


class Letter(Protocol):
    """What rendering reads of a recipient (a Recipient, or a row of its columns)."""

    @property
    def first_name(self) -> str | None: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def address_line1(self) -> str | None: ...
    @property
    def address_line2(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...
    @property
    def state(self) -> str | None: ...
    @property
    def zip(self) -> str | None: ...
    @property
    def country(self) -> str: ...
    @property
    def custom_fields(self) -> dict[str, Any] | None: ...


_O = tables.table_of(tables.Order)
_R = tables.table_of(tables.Recipient)

#: Built once (they run for every order): capture, read letters, mark them.
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


def _merge_fields(r: Letter) -> dict[str, object]:
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
        claimed = stages.claim(session, order_id, Stage.RECEIVED, Stage.ADDRESSES_CHECKED, now)
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
        order = uow.session.execute(stages.ORDER_STATE, {"oid": order_id}).one_or_none()
        if order is None or not stages.at(order, Stage.ADDRESSES_CHECKED):
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
        claimed = stages.claim(session, order_id, Stage.ADDRESSES_CHECKED, Stage.RENDERED, now)
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


def address_lines(r: Letter) -> list[str]:
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
            state = session.execute(stages.ORDER_STATE, {"oid": order_id}).one_or_none()
            if state is None or not stages.at(state, Stage.RENDERED):
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
