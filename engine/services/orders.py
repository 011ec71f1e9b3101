"""Orders: create (hold the money), list, read, cancel (release it)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.domain import addresses, orderform, pricing
from engine.domain.statuses import (
    CANCELLABLE,
    EnvelopeType,
    OrderStatus,
    PaperType,
    ProductType,
    RecipientStatus,
    Stage,
)
from engine.services import events, fonts, outbox, tenants, wallet
from engine.services.keys import Principal

SORTABLE = ("created_at", "updated_at", "total_cents", "letter_count", "status")
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class CreatedOrder:
    order: tables.Order
    recipients: list[tables.Recipient]
    transaction_id: uuid.UUID
    balance: wallet.Balance


@dataclass(frozen=True)
class OrderPage:
    orders: list[tables.Order]
    total: int
    page: int
    limit: int

    @property
    def total_pages(self) -> int:
        return (self.total + self.limit - 1) // self.limit if self.total else 0


@dataclass(frozen=True)
class CancelledOrder:
    order: tables.Order
    balance: wallet.Balance


@dataclass
class _Form:
    problems: list[errors.FieldProblem] = field(default_factory=list)
    recipient_problems: dict[int, list[errors.FieldProblem]] = field(default_factory=dict)


def _validation_error(
    problems: list[errors.FieldProblem], total_recipients: int
) -> errors.ValidationFailed:
    bad = sorted({p.recipient_index for p in problems if p.recipient_index is not None})
    top_level = [p for p in problems if p.recipient_index is None]
    if bad and not top_level:
        n = len(bad)
        valid = max(total_recipients - n, 0)
        message = f"{n} recipient{'s' * (n != 1)} {'have' if n != 1 else 'has'} issues"
        suggestion = (
            f"Fix the {n} invalid recipient{'s' * (n != 1)} and resubmit, or set "
            f'"skip_invalid": true to process only the {valid} valid '
            f"recipient{'s' * (valid != 1)}."
        )
    else:
        message, suggestion = None, None
    exc = errors.ValidationFailed(problems, message=message, suggestion=suggestion)
    exc.extra = {"valid_count": total_recipients - len(bad), "invalid_count": len(bad)}
    return exc


def cancel_window(app: Inkwell, tenant: tables.Tenant) -> timedelta:
    seconds = tenant.cancel_window_s
    if seconds is None:
        seconds = app.settings.order_cancel_window_s
    return timedelta(seconds=seconds)


def create_order(app: Inkwell, principal: Principal, raw: Mapping[str, object]) -> CreatedOrder:
    """Validate, price and accept an order, holding its cost, in one transaction.

    Raises:
        ValidationFailed: every problem with the request, each with its field.
        InsufficientCredits: the wallet's available balance is below the order's cost.
    """
    now = app.clock()
    problems = orderform.check_order(raw, now=now)
    recipients_raw = raw.get("recipients")
    total = len(recipients_raw) if isinstance(recipients_raw, list) else 0
    skip_invalid = raw.get("skip_invalid") is True
    with app.uow() as uow:
        session = uow.session
        tenant = tenants.get_tenant(session, principal.tenant_id)
        font = fonts.resolve(session, tenant, raw.get("handwriting_style"))
        if isinstance(font, str):
            problems.append(errors.FieldProblem("handwriting_style", font))
        invalid: dict[int, list[str]] = {}
        for p in problems:
            if p.recipient_index is not None:
                invalid.setdefault(p.recipient_index, []).append(p.error)
        blocking = [p for p in problems if p.recipient_index is None or not skip_invalid]
        if skip_invalid and total and len(invalid) == total:
            none_left = errors.FieldProblem("recipients", "no valid recipients left to send to")
            raise _validation_error([none_left, *problems], total)
        if blocking:
            raise _validation_error(blocking, total)
        assert isinstance(recipients_raw, list) and not isinstance(font, str)

        product = ProductType(str(raw.get("product_type") or "letter"))
        default_envelope = "none" if product is ProductType.POSTCARD else "standard"
        envelope = EnvelopeType(str(raw.get("envelope_type") or default_envelope))
        paper = PaperType(str(raw.get("paper_type") or "standard"))
        valid_count = total - len(invalid)
        quote = pricing.quote(
            tenants.price_list(tenant),
            product=product,
            paper=paper,
            envelope=envelope,
            count=valid_count,
        )
        send_date = orderform.parse_send_date(raw.get("send_date"))
        cancellable_until = max(now + cancel_window(app, tenant), send_date or now)
        order = tables.Order(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            mode=principal.mode.value,
            status=OrderStatus.PENDING.value,
            stage=Stage.RECEIVED.value,
            stage_changed_at=now,
            message_body=str(raw["message_body"]),
            product_type=product.value,
            paper_type=paper.value,
            envelope_type=envelope.value,
            mailing_option=_opt_str(raw.get("mailing_option")),
            font_id=font,
            authenticity_preset=_opt_str(raw.get("authenticity_preset")),
            return_address=_return_address(raw.get("return_address")),
            skip_invalid=skip_invalid,
            source="partner_api",
            letter_count=valid_count,
            total_cents=quote.total_cents,
            cost_breakdown=quote.breakdown(),
            send_date=send_date,
            cancellable_until=cancellable_until,
            created_at=now,
            updated_at=now,
        )
        recipients = [
            _recipient(order.id, index, item, invalid.get(index), now)
            for index, item in enumerate(recipients_raw)
        ]
        # Core inserts: the ORM's unit of work costs more than the rest of the request.
        session.execute(_INSERT_ORDER, _values(order))
        session.execute(_INSERT_RECIPIENT, _all_values(recipients))
        outbox.enqueue(session, "check_addresses", order_id=order.id, now=now)
        # The hold goes last: the wallet row is every order's hot spot, so its lock is
        # held for one statement and the commit.
        if quote.total_cents:
            transaction_id, balance = wallet.place_hold(
                session,
                tenant_id=tenant.id,
                mode=principal.mode.value,
                order_id=order.id,
                amount_cents=quote.total_cents,
                now=now,
            )
        else:
            transaction_id, balance = order.id, _balance(session, principal)
        uow.commit()
    return CreatedOrder(
        order=order,
        recipients=recipients,
        transaction_id=transaction_id,
        balance=balance,
    )


_INSERT_ORDER = sa.insert(tables.table_of(tables.Order))
_INSERT_RECIPIENT = sa.insert(tables.table_of(tables.Recipient))


def _values(row: tables.Base) -> dict[str, object]:
    """The columns set on a new (unsaved) row; the rest take their defaults."""
    table = tables.table_of(type(row))
    return {c.key: v for c in table.columns if (v := getattr(row, c.key, None)) is not None}


def _all_values(rows: list[tables.Recipient]) -> list[dict[str, object]]:
    """Rows for one executemany: every row names the same columns."""
    values = [_values(r) for r in rows]
    keys = set().union(*values)
    return [{k: v.get(k) for k in keys} for v in values]


def _balance(session: Session, principal: Principal) -> wallet.Balance:
    w = wallet.get_wallet(session, principal.tenant_id, principal.mode.value)
    return wallet.Balance(w.balance_cents, w.held_cents)


def _opt_str(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _return_address(value: object) -> dict[str, object] | None:
    if not isinstance(value, Mapping):
        return None
    keys = ("name", "line1", "line2", "city", "state", "zip", "country")
    out = {k: value.get(k) for k in keys if value.get(k) is not None}
    out.setdefault("country", "US")
    return out


def _recipient(
    order_id: uuid.UUID,
    index: int,
    raw: object,
    problems: list[str] | None,
    now: datetime,
) -> tables.Recipient:
    if problems or not isinstance(raw, Mapping):
        # Stored as sent (within column limits) so the partner can see what was skipped.
        fields = raw if isinstance(raw, Mapping) else {}
        stored = {
            f: (str(fields.get(f))[:limit] if fields.get(f) is not None else None)
            for f, limit in (
                ("first_name", 100),
                ("last_name", 100),
                ("address_line1", 255),
                ("address_line2", 255),
                ("city", 100),
                ("state", 100),
                ("zip", 20),
            )
        }
        custom = fields.get("custom_fields")
        return tables.Recipient(
            id=uuid.uuid4(),
            order_id=order_id,
            position=index,
            country=addresses.country_of(fields)[:2],
            custom_fields=dict(custom) if isinstance(custom, Mapping) else {},
            status=RecipientStatus.INVALID.value,
            invalid_reason="; ".join(problems or ["recipient must be an object"]),
            created_at=now,
            updated_at=now,
            **stored,
        )
    clean = addresses.normalise_recipient(raw)
    return tables.Recipient(
        id=uuid.uuid4(),
        order_id=order_id,
        position=index,
        status=RecipientStatus.PENDING.value,
        created_at=now,
        updated_at=now,
        **clean,
    )


def _owned(principal: Principal) -> list[sa.ColumnElement[bool]]:
    return [
        tables.Order.tenant_id == principal.tenant_id,
        tables.Order.mode == principal.mode.value,
    ]


def list_orders(
    app: Inkwell,
    principal: Principal,
    *,
    page: int = 1,
    limit: int = 25,
    status: str | None = None,
    sort: str = "created_at",
    order: str = "desc",
) -> OrderPage:
    """One page of the caller's orders.

    Raises:
        ValidationFailed: a bad page, limit, status, sort field or direction.
    """
    problems = []
    if page < 1:
        problems.append(errors.FieldProblem("page", "page must be 1 or more"))
    if not 1 <= limit <= MAX_PAGE_SIZE:
        problems.append(errors.FieldProblem("limit", "limit must be between 1 and 100"))
    statuses = [s.strip() for s in status.split(",")] if status else []
    unknown = [s for s in statuses if s not in OrderStatus.__members__.values()]
    if unknown:
        valid = ", ".join(s.value for s in OrderStatus)
        problems.append(
            errors.FieldProblem("status", f"unknown status {', '.join(unknown)}; use {valid}")
        )
    if sort not in SORTABLE:
        problems.append(errors.FieldProblem("sort", f"sort must be one of {', '.join(SORTABLE)}"))
    if order not in ("asc", "desc"):
        problems.append(errors.FieldProblem("order", "order must be asc or desc"))
    if problems:
        raise errors.ValidationFailed(problems)
    where = _owned(principal)
    if statuses:
        where.append(tables.Order.status.in_(statuses))
    column = getattr(tables.Order, sort)
    direction = column.asc() if order == "asc" else column.desc()
    tiebreak = tables.Order.id.asc() if order == "asc" else tables.Order.id.desc()
    with app.uow() as uow:
        total = uow.session.scalar(sa.select(sa.func.count()).where(*where)) or 0
        rows = list(
            uow.session.scalars(
                sa.select(tables.Order)
                .where(*where)
                .order_by(direction, tiebreak)
                .limit(limit)
                .offset((page - 1) * limit)
            )
        )
    return OrderPage(orders=rows, total=total, page=page, limit=limit)


def _load(session: Session, principal: Principal, order_id: uuid.UUID) -> tables.Order:
    order = session.scalar(
        sa.select(tables.Order).where(tables.Order.id == order_id, *_owned(principal))
    )
    if order is None:
        raise errors.NotFound("order", order_id)
    return order


def recipients_of(session: Session, order_id: uuid.UUID) -> list[tables.Recipient]:
    return list(
        session.scalars(
            sa.select(tables.Recipient)
            .where(tables.Recipient.order_id == order_id)
            .order_by(tables.Recipient.position)
        )
    )


def get_order(
    app: Inkwell, principal: Principal, order_id: uuid.UUID
) -> tuple[tables.Order, list[tables.Recipient]]:
    """One of the caller's orders with its recipients. Raises NotFound for anyone else's."""
    with app.uow() as uow:
        order = _load(uow.session, principal, order_id)
        return order, recipients_of(uow.session, order.id)


def cancel_order(app: Inkwell, principal: Principal, order_id: uuid.UUID) -> CancelledOrder:
    """Cancel a draft, pending_payment or pending order and release its hold, exactly once.

    Raises:
        NotFound: not one of the caller's orders.
        NotCancellable: the order is already past pending (or already cancelled).
    """
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        order = session.scalar(
            sa.select(tables.Order)
            .where(tables.Order.id == order_id, *_owned(principal))
            .with_for_update()
        )
        if order is None:
            raise errors.NotFound("order", order_id)
        previous = OrderStatus(order.status)
        if previous not in CANCELLABLE:
            raise errors.NotCancellable(order_id, order.status)
        moved = session.execute(
            sa.update(tables.Order)
            .where(tables.Order.id == order.id, tables.Order.status == previous.value)
            .values(status=OrderStatus.CANCELLED.value, cancelled_at=now, updated_at=now)
            .returning(tables.Order.id)
        ).one_or_none()
        if moved is None:
            raise errors.NotCancellable(order_id, "no longer cancellable")
        session.execute(
            sa.update(tables.Recipient)
            .where(
                tables.Recipient.order_id == order.id,
                tables.Recipient.status != RecipientStatus.INVALID.value,
            )
            .values(status=RecipientStatus.CANCELLED.value, updated_at=now)
        )
        if previous is OrderStatus.PENDING:
            balance = wallet.release_hold(
                session,
                tenant_id=order.tenant_id,
                mode=order.mode,
                order_id=order.id,
                amount_cents=order.total_cents,
                reason="cancelled",
                now=now,
            )
        else:
            balance = _balance(session, principal)
        events.record(
            session,
            order=order,
            type="order.cancelled",
            key=f"order:{order.id}:cancelled",
            now=now,
            extra={"status": OrderStatus.CANCELLED.value, "cancelled_at": now},
        )
        uow.commit()
        session.refresh(order)
    return CancelledOrder(order=order, balance=balance)
