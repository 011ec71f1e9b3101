"""Manual sends: a partner's retry of one failed delivery and resend of an order's event.

Both count toward an endpoint's hourly allowance (`webhook_manual_sends_per_hour`), kept
in `webhook_manual_sends`: one row per manual send, written in the transaction that makes
it, and counted under the endpoint's row lock, so concurrent requests cannot both take
the last one.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables
from engine.domain import event_types
from engine.domain.statuses import DeliveryStatus
from engine.services import delivery_logs, fanout, outbox, webhooks
from engine.services.context import Context
from engine.services.principals import Principal


def retry(app: Context, principal: Principal, delivery_id: uuid.UUID) -> tables.WebhookDelivery:
    """Send one failed delivery again, now.

    Raises:
        NotFound: not the caller's.
        Conflict: the delivery has not failed, or its endpoint is deactivated.
        ManualResendsExhausted: its endpoint had its manual sends this hour.
    """
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        delivery = delivery_logs.owned(session, principal, delivery_id)
        if delivery.status != DeliveryStatus.FAILED.value:
            raise errors.Conflict(
                f"Webhook log {delivery_id} is {delivery.status}; only failed deliveries "
                "can be retried.",
                suggestion="Wait for its scheduled attempts, or resend the order's event.",
            )
        endpoint = session.get(tables.WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
        assert endpoint is not None
        if not endpoint.is_active:
            raise errors.Conflict(
                f"Webhook {endpoint.id} is deactivated ({endpoint.deactivated_reason}).",
                suggestion=f"Reactivate webhook {endpoint.id} first.",
            )
        _check_manual_allowance(app, session, endpoint.id, 1, now)
        webhooks.requeue(session, delivery, now)
        _note_manual_send(session, endpoint.id, delivery.id, "retry", now)
        uow.commit()
    return delivery


#: How far back manual sends (retries and resends) count toward an endpoint's allowance.
MANUAL_WINDOW = timedelta(hours=1)


def _check_manual_allowance(
    app: Context, session: Session, endpoint_id: uuid.UUID, adding: int, now: datetime
) -> None:
    """Refuse `adding` more manual sends to an endpoint past its hourly allowance, counted
    from the manual sends on record (the caller holds the endpoint's row lock)."""
    limit = app.settings.webhook_manual_sends_per_hour
    m = tables.WebhookManualSend
    since = now - MANUAL_WINDOW
    sent = list(
        session.scalars(
            sa.select(m.sent_at)
            .where(m.endpoint_id == endpoint_id, m.sent_at > since)
            .order_by(m.sent_at)
        )
    )
    if len(sent) + adding <= limit:
        return
    # Room opens when enough of the oldest age out of the window.
    free_at = sent[min(len(sent) + adding - limit, len(sent)) - 1] + MANUAL_WINDOW
    retry_after_s = max(1, math.ceil((free_at - now).total_seconds()))
    raise errors.ManualResendsExhausted(endpoint_id, limit=limit, retry_after_s=retry_after_s)


def _note_manual_send(
    session: Session, endpoint_id: uuid.UUID, delivery_id: uuid.UUID, kind: str, now: datetime
) -> None:
    """Put one manual send on record, in the transaction that makes it."""
    session.add(
        tables.WebhookManualSend(
            id=uuid.uuid4(),
            endpoint_id=endpoint_id,
            delivery_id=delivery_id,
            kind=kind,
            sent_at=now,
        )
    )


def resend(
    app: Context, principal: Principal, *, order_id: object, event: object
) -> list[tables.WebhookDelivery]:
    """A new delivery of an order's event to every matching active endpoint.

    Raises:
        ValidationFailed: order_id or event missing or malformed.
        NotFound: no such event for one of the caller's orders.
        Conflict: no active endpoint subscribes to that event.
        ManualResendsExhausted: an endpoint had its manual sends this hour.
    """
    problems = []
    parsed_order: uuid.UUID | None = None
    with contextlib.suppress(ValueError):
        parsed_order = uuid.UUID(str(order_id)) if order_id is not None else None
    if parsed_order is None:
        problems.append(errors.FieldProblem("order_id", "order_id must be an order id"))
    if not event_types.is_event_type(event):
        problems.append(
            errors.FieldProblem("event", f"event must be one of {event_types.listed()}")
        )
    if problems:
        raise errors.ValidationFailed(problems)
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        ev = tables.Event
        found = session.scalar(
            sa.select(ev)
            .where(
                ev.order_id == parsed_order,
                ev.type == event,
                principal.owns(ev),
            )
            .order_by(ev.seq.desc())
            .limit(1)
        )
        if found is None:
            raise errors.NotFound("event", f"{event} for order {parsed_order}")
        e = tables.WebhookEndpoint
        endpoints = [
            ep
            for ep in session.scalars(
                sa.select(e)
                .where(
                    principal.owns(e),
                    e.is_active.is_(True),
                )
                .order_by(e.id)
                .with_for_update()
            )
            if fanout.subscribes(ep, found.type)
        ]
        if not endpoints:
            raise errors.Conflict(
                f"No active webhook subscribes to {found.type}.",
                suggestion="Create or reactivate a webhook for this event first.",
            )
        for endpoint in endpoints:
            _check_manual_allowance(app, session, endpoint.id, 1, now)
        created: list[uuid.UUID] = []
        d = tables.WebhookDelivery
        for endpoint in endpoints:
            delivery_id = uuid.uuid4()
            original = session.scalar(sa.select(d.id).where(d.key == f"{found.id}:{endpoint.id}"))
            fanout.insert_delivery(
                session,
                delivery_id,
                found,
                endpoint,
                f"{found.id}:{endpoint.id}:resend:{delivery_id}",
                now,
                resend_of=original,
            )
            _note_manual_send(session, endpoint.id, delivery_id, "resend", now)
            outbox.enqueue(
                session,
                "deliver_webhook",
                tenant_id=found.tenant_id,
                delivery_id=delivery_id,
                now=now,
            )
            created.append(delivery_id)
        uow.commit()
        rows = session.scalars(
            sa.select(tables.WebhookDelivery).where(tables.WebhookDelivery.id.in_(created))
        ).all()
        return list(rows)
