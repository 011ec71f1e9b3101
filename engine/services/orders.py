"""Orders as the partner sees them: create (hold the money), list, read, cancel (release it).

Checking and pricing live in `preparation`, the batched write in `order_writer`. `intake`,
which commits concurrent orders together, knows orders only through `acceptance`: it
never imports this module or those two.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables, transitions
from engine.domain import paging
from engine.domain.event_types import EventType
from engine.domain.statuses import CANCELLABLE, OrderStatus, RecipientStatus
from engine.services import events, intake, wallet

# The name, not the module: it moved to `acceptance` (so `intake` need not import this
# module) and is used here, and by callers as `orders.CreatedOrder`, as before.
from engine.services.acceptance import CreatedOrder
from engine.services.context import Context

# By name too: `create_order` hands the writer's two to the intake, whose docstrings call
# them `orders.write_orders` and `orders.written`.
from engine.services.order_writer import write_orders, written
from engine.services.preparation import prepare_order
from engine.services.principals import Principal

SORTABLE = ("created_at", "updated_at", "total_cents", "letter_count", "status")
MAX_PAGE_SIZE = 100
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class OrderPage:
    orders: list[tables.Order]
    total: int
    window: paging.Page

    @property
    def pagination(self) -> dict[str, object]:
        return self.window.pagination(self.total)


@dataclass(frozen=True)
class CancelledOrder:
    order: tables.Order
    balance: wallet.Balance


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


def _balance(session: Session, principal: Principal) -> wallet.Balance:
    w = wallet.get_wallet(session, principal.tenant_id, principal.mode.value)
    return wallet.Balance(w.balance_cents, w.held_cents)


def _owned(principal: Principal) -> list[sa.ColumnElement[bool]]:
    return [
        principal.owns(tables.Order),
    ]


def list_orders(
    app: Context,
    principal: Principal,
    *,
    window: paging.Page = paging.Page(),
    status: str | None = None,
    sort: str = "created_at",
    order: str = "desc",
) -> OrderPage:
    """One page of the caller's orders.

    Raises:
        ValidationFailed: a bad page, limit, status, sort field or direction.
    """
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
    return OrderPage(orders=rows, total=total, window=window)


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
