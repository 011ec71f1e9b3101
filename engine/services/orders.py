"""Orders: create (hold the money), list, read, cancel (release it)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables, transitions
from engine.domain import addresses, orderform, paging, pricing, text
from engine.domain.event_types import EventType
from engine.domain.statuses import (
    CANCELLABLE,
    EnvelopeType,
    OrderStatus,
    PaperType,
    ProductType,
    RecipientStatus,
    Stage,
)
from engine.services import events, fonts, intake, outbox, tenants, wallet

# The names, not the module: they moved to `acceptance` (so `intake` need not import this
# module) and are used here, and by callers as `orders.CreatedOrder`, as before.
from engine.services.acceptance import CreatedOrder, Prepared
from engine.services.context import Context
from engine.services.keys import Principal

SORTABLE = ("created_at", "updated_at", "total_cents", "letter_count", "status")
MAX_PAGE_SIZE = 100
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class OrderPage:
    orders: list[tables.Order]
    total: int
    page: int
    limit: int

    @property
    def total_pages(self) -> int:
        return paging.Page(self.page, self.limit).total_pages(self.total)


@dataclass(frozen=True)
class CancelledOrder:
    order: tables.Order
    balance: wallet.Balance


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


def cancel_window(app: Context, tenant: tables.Tenant) -> timedelta:
    seconds = tenant.cancel_window_s
    if seconds is None:
        seconds = app.settings.order_cancel_window_s
    return timedelta(seconds=seconds)


def create_order(app: Context, principal: Principal, raw: Mapping[str, object]) -> CreatedOrder:
    """Validate, price and accept an order, holding its cost, in one transaction.

    Orders are written by the process's intake writer, which commits concurrent orders
    together (one wallet lock and one commit per batch); each still gets its own answer.

    Raises:
        ValidationFailed: every problem with the request, each with its field.
        InsufficientCredits: the wallet's available balance is below the order's cost.
    """
    prepared = prepare_order(app, principal, raw)
    return intake.submit(app, prepared, write=write_orders, written=written)


def prepare_order(app: Context, principal: Principal, raw: Mapping[str, object]) -> Prepared:
    """Check every rule and price the order (reads the tenant, usually cached; writes
    nothing).

    Raises:
        ValidationFailed: every problem with the request, each with its field.
    """
    now = app.clock()
    problems = orderform.check_order(raw, now=now)
    recipients_raw = raw.get("recipients")
    total = len(recipients_raw) if isinstance(recipients_raw, list) else 0
    skip_invalid = raw.get("skip_invalid") is True
    tenant = tenants.cached_tenant(app, principal.tenant_id)
    font = fonts.resolve_for(app, tenant, raw.get("handwriting_style"))
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
        recipient_count=total,
        order_metadata=raw.get("metadata"),
        external_id=raw.get("external_id"),
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
    return Prepared(order=order, recipients=recipients)


def write_orders(
    app: Context, batch: list[Prepared], *, timeout_s: float | None = None
) -> list[CreatedOrder | errors.InkwellError]:
    """Write prepared orders in one transaction, holding each one's cost.

    With `timeout_s` (Postgres), a lock wait or statement longer than that fails the whole
    transaction (rolled back, nothing kept) instead of waiting on.

    Each wallet is locked once (in a fixed order, so concurrent batches cannot deadlock);
    orders are accepted in arrival order while the available balance covers them, the
    rest answer InsufficientCredits; the accepted total is held by one conditional UPDATE.
    Returns, per order, its result or the error for that order alone.

    Raises:
        DuplicateExternalId: a one-order batch whose external_id the tenant's mode already
            has (the unique index decides, so concurrent duplicates cannot both land; a
            larger batch raises IntegrityError and the intake retries it order by order).
    """
    try:
        return _write_orders(app, batch, timeout_s)
    except sa.exc.IntegrityError as e:
        if len(batch) == 1 and (existing := _existing_external(app, batch[0].order)):
            raise errors.DuplicateExternalId(str(batch[0].order.external_id), existing) from e
        raise


def written(app: Context, order_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `order_ids` the database holds (read on a fresh connection)."""
    with app.uow() as uow:
        found = uow.session.scalars(
            sa.select(tables.Order.id).where(tables.Order.id.in_(list(order_ids)))
        )
        return set(found)


def _existing_external(app: Context, order: tables.Order) -> uuid.UUID | None:
    """The id of the order that already holds `order`'s external_id, if any."""
    if order.external_id is None:
        return None
    with app.uow() as uow:
        return uow.session.execute(
            sa.select(tables.Order.id).where(
                tables.Order.tenant_id == order.tenant_id,
                tables.Order.mode == order.mode,
                tables.Order.external_id == order.external_id,
            )
        ).scalar_one_or_none()


def _write_orders(
    app: Context, batch: list[Prepared], timeout_s: float | None
) -> list[CreatedOrder | errors.InkwellError]:
    now = app.clock()
    results: list[CreatedOrder | errors.InkwellError | None] = [None] * len(batch)
    by_wallet: dict[tuple[uuid.UUID, str], list[int]] = {}
    for index, item in enumerate(batch):
        by_wallet.setdefault((item.order.tenant_id, item.order.mode), []).append(index)
    with app.uow() as uow:
        session = uow.session
        if timeout_s is not None and session.get_bind().dialect.name == "postgresql":
            ms = max(int(timeout_s * 1000), 1)
            session.execute(sa.text(f"SET LOCAL lock_timeout = {ms}"))
            session.execute(sa.text(f"SET LOCAL statement_timeout = {ms}"))
        accepted: list[int] = []
        holds: list[wallet.HoldBatch] = []
        # Wallets in a fixed order, so concurrent batches cannot deadlock.
        for (tenant_id, mode), indexes in sorted(by_wallet.items(), key=lambda kv: str(kv[0])):
            try:
                held = wallet.hold_orders(
                    session,
                    tenant_id=tenant_id,
                    mode=mode,
                    requests=[
                        wallet.HoldRequest(batch[i].order.id, batch[i].cost_cents) for i in indexes
                    ],
                    now=now,
                )
            except errors.NotFound as e:
                for index in indexes:
                    results[index] = e
                continue
            holds.append(held)
            for index, outcome in zip(indexes, held.results, strict=True):
                if isinstance(outcome, errors.InsufficientCredits):
                    results[index] = outcome
                    continue
                accepted.append(index)
                results[index] = CreatedOrder(
                    order=batch[index].order,
                    recipients=batch[index].recipients,
                    transaction_id=outcome.entry_id,
                    balance=outcome.balance,
                )
        if accepted:
            session.execute(_INSERT_ORDER, _all_values([batch[i].order for i in accepted]))
            session.execute(
                _INSERT_RECIPIENT, _all_values([r for i in accepted for r in batch[i].recipients])
            )
            outbox.enqueue_many(
                session,
                [
                    outbox.Job("check_addresses", o.tenant_id, {"order_id": o.id})
                    for o in (batch[i].order for i in accepted)
                ],
                now=now,
            )
            events.record_accepted(session, [batch[i].order for i in accepted], now)
            for held in holds:
                held.record(session)
            try:
                uow.commit()
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as e:
                # The COMMIT may have reached the server before the connection broke: what
                # was written is unknown here, so the intake looks before it answers.
                raise errors.CommitUncertain(list(results)) from e
    out: list[CreatedOrder | errors.InkwellError] = []
    for result in results:
        assert result is not None
        out.append(result)
    return out


_INSERT_ORDER = sa.insert(tables.table_of(tables.Order))
_INSERT_RECIPIENT = sa.insert(tables.table_of(tables.Recipient))


def _values(row: tables.Base) -> dict[str, object]:
    """The columns set on a new (unsaved) row; the rest take their defaults."""
    columns = sa.inspect(type(row)).column_attrs  # attribute names (`order_metadata`)
    return {a.columns[0].key: v for a in columns if (v := getattr(row, a.key, None)) is not None}


def _all_values(rows: Sequence[tables.Base]) -> list[dict[str, object]]:
    """Rows for one executemany: every row names the same columns (SQLAlchemy builds the
    statement from the first row's keys and would drop the others' extra values)."""
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
    value, _ = orderform.return_address_lines(value)
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
            f: (text.clean(str(fields.get(f)))[:limit] if fields.get(f) is not None else None)
            for f, limit in addresses.STORED_TEXT
        }
        custom = fields.get("custom_fields")
        if addresses.check_custom_fields(custom):
            custom = None  # not storable as sent; the reason says why
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
        principal.owns(tables.Order),
    ]


def list_orders(
    app: Context,
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
    window = paging.Page(page, limit)
    problems = window.problems(max_page=MAX_PAGE, max_limit=MAX_PAGE_SIZE)
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
                .limit(window.limit)
                .offset(window.offset)
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
    app: Context, principal: Principal, order_id: uuid.UUID
) -> tuple[tables.Order, list[tables.Recipient]]:
    """One of the caller's orders with its recipients. Raises NotFound for anyone else's."""
    with app.uow() as uow:
        order = _load(uow.session, principal, order_id)
        return order, recipients_of(uow.session, order.id)


def cancel_order(app: Context, principal: Principal, order_id: uuid.UUID) -> CancelledOrder:
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
            transitions.move(OrderStatus.CANCELLED, only_from=[previous])
            .values(cancelled_at=now, updated_at=now)
            .returning(tables.Order.id),
            {"oid": order.id},
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
            balance = wallet.release_order(session, order, reason=OrderStatus.CANCELLED, now=now)
        else:
            balance = _balance(session, principal)
        events.record(
            session,
            order=order,
            type=EventType.ORDER_CANCELLED,
            key=f"order:{order.id}:cancelled",
            now=now,
            extra={"status": OrderStatus.CANCELLED.value, "cancelled_at": now},
        )
        uow.commit()
        session.refresh(order)
    return CancelledOrder(order=order, balance=balance)
