"""Delivery logs: a tenant's webhook deliveries with every attempt, paged as in 001.

GET /webhooks/{id}/deliveries, GET /webhook-logs and GET /webhook-logs/{id} read here;
nothing here writes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables
from engine.domain import event_types, paging
from engine.domain.statuses import DeliveryStatus
from engine.services import webhooks
from engine.services.context import Context
from engine.services.principals import Principal

DELIVERY_STATUSES = tuple(s.value for s in DeliveryStatus)
#: Delivery log pages, as 001 gives them for GET /webhooks/{id}/deliveries.
DEFAULT_LOG_LIMIT = 50
MAX_LOG_LIMIT = 100
MAX_LOG_OFFSET = 10**9


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[tables.WebhookDelivery]
    attempts: dict[uuid.UUID, list[tables.WebhookAttempt]]
    total: int
    window: paging.Window

    @property
    def pagination(self) -> dict[str, Any]:
        """`total, limit, offset, has_more`, as 001 gives them."""
        return self.window.pagination(self.total, len(self.deliveries))


def list_deliveries(
    app: Context,
    principal: Principal,
    *,
    endpoint_id: uuid.UUID | None = None,
    status: str | None = None,
    event: str | None = None,
    order_id: uuid.UUID | None = None,
    window: paging.Window = paging.Window(DEFAULT_LOG_LIMIT),
) -> DeliveryPage:
    """Delivery logs, newest first, with every attempt; `limit`/`offset` as in 001.

    Raises:
        ValidationFailed: bad status, event, limit or offset.
        NotFound: `endpoint_id` is not the caller's.
    """
    problems = []
    if status is not None and status not in DELIVERY_STATUSES:
        problems.append(
            errors.FieldProblem("status", f"status must be one of {', '.join(DELIVERY_STATUSES)}")
        )
    if event is not None and not event_types.is_event_type(event):
        problems.append(
            errors.FieldProblem("event", f"event must be one of {event_types.listed()}")
        )
    problems += window.problems(max_limit=MAX_LOG_LIMIT, max_offset=MAX_LOG_OFFSET)
    if problems:
        raise errors.ValidationFailed(problems)
    d = tables.WebhookDelivery
    e = tables.WebhookEndpoint
    where: list[sa.ColumnElement[bool]] = [
        principal.owns(e),
    ]
    if endpoint_id is not None:
        where.append(d.endpoint_id == endpoint_id)
    if status is not None:
        where.append(d.status == status)
    if event is not None:
        where.append(d.event_type == event)
    if order_id is not None:
        where.append(
            d.event_id.in_(sa.select(tables.Event.id).where(tables.Event.order_id == order_id))
        )
    with app.uow() as uow:
        session = uow.session
        if endpoint_id is not None:
            webhooks._owned(session, principal, endpoint_id)
        base = sa.select(d).join(e, e.id == d.endpoint_id).where(*where)
        total = session.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0
        rows = list(
            session.scalars(
                base.order_by(d.created_at.desc(), d.id.desc())
                .limit(window.limit)
                .offset(window.offset)
            )
        )
        attempts = attempts_of(session, [r.id for r in rows])
    return DeliveryPage(rows, attempts, total, window)


def attempts_of(
    session: Session, delivery_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tables.WebhookAttempt]]:
    """Each delivery's attempts, first to last."""
    out: dict[uuid.UUID, list[tables.WebhookAttempt]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return out
    a = tables.WebhookAttempt
    for attempt in session.scalars(
        sa.select(a).where(a.delivery_id.in_(delivery_ids)).order_by(a.number)
    ):
        out[attempt.delivery_id].append(attempt)
    return out


def owned(session: Session, principal: Principal, delivery_id: uuid.UUID) -> tables.WebhookDelivery:
    """The caller's delivery `delivery_id` (by its endpoint's tenant and mode).

    Raises:
        NotFound: no such delivery of the caller's.
    """
    d = tables.WebhookDelivery
    e = tables.WebhookEndpoint
    delivery = session.scalar(
        sa.select(d).join(e, e.id == d.endpoint_id).where(d.id == delivery_id, principal.owns(e))
    )
    if delivery is None:
        raise errors.NotFound("webhook log", delivery_id)
    return delivery


def get_delivery(
    app: Context, principal: Principal, delivery_id: uuid.UUID
) -> tuple[tables.WebhookDelivery, list[tables.WebhookAttempt]]:
    """One delivery with every attempt.

    Raises:
        NotFound: not the caller's.
    """
    with app.uow() as uow:
        delivery = owned(uow.session, principal, delivery_id)
        return delivery, attempts_of(uow.session, [delivery.id])[delivery.id]
