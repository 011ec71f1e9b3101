"""Fan-out: an event becomes one delivery per subscribed active endpoint.

One delivery per (event, endpoint), keyed `{event}:{endpoint}`, so a fan-out run twice
(a redelivered message, a replay) creates nothing new. Each delivery is queued for sending
through the outbox, in the transaction that creates it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import sql, tables
from engine.domain.event_types import WILDCARD
from engine.domain.statuses import DeliveryStatus
from engine.services import outbox
from engine.services.context import Context

_D = tables.table_of(tables.WebhookDelivery)
_E = tables.table_of(tables.WebhookEndpoint)
_EV = tables.table_of(tables.Event)


class EventRef(Protocol):
    """What fanning out reads of an event (an Event, or a row of its columns)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def type(self) -> str: ...


class EndpointRef(Protocol):
    """What fanning out reads of an endpoint (a WebhookEndpoint, or a row of its columns)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def events(self) -> list[str]: ...


#: Built once (they run for every event). Taking the event marks it fanned out, under its
#: row lock: a second fan-out of it waits, then finds it taken and does nothing.
_TAKE_EVENT = (
    sa.update(_EV)
    .where(_EV.c.id == sa.bindparam("evid"), _EV.c.fanned_out_at.is_(None))
    .values(fanned_out_at=sa.bindparam("now"))
    .returning(_EV.c.id, _EV.c.tenant_id, _EV.c.mode, _EV.c.type)
)
_ACTIVE_ENDPOINTS = sa.select(_E.c.id, _E.c.events).where(
    _E.c.tenant_id == sa.bindparam("tid"),
    _E.c.mode == sa.bindparam("mode"),
    _E.c.is_active.is_(True),
)


def fan_out(app: Context, event_id: uuid.UUID) -> int:
    """One delivery per subscribed active endpoint; returns how many were created."""
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        event = session.execute(_TAKE_EVENT, {"evid": event_id, "now": now}).one_or_none()
        if event is None:  # unknown, or fanned out already
            return 0
        endpoints = session.execute(
            _ACTIVE_ENDPOINTS, {"tid": event.tenant_id, "mode": event.mode}
        ).all()
        created = 0
        for endpoint in endpoints:
            if not subscribes(endpoint, event.type):
                continue
            delivery_id = uuid.uuid4()
            if insert_delivery(
                session, delivery_id, event, endpoint, f"{event.id}:{endpoint.id}", now
            ):
                outbox.enqueue(
                    session,
                    "deliver_webhook",
                    tenant_id=event.tenant_id,
                    delivery_id=delivery_id,
                    now=now,
                )
                created += 1
        uow.commit()
    return created


def catch_up(
    session: Session, endpoint: tables.WebhookEndpoint, since: datetime, now: datetime
) -> int:
    """Deliveries to `endpoint` of the events it subscribes to since `since` (and after it
    was created) that it has none of: those fanned out while it was inactive, and those
    whose fan-out is running now and read the endpoints before this reactivation
    committed (a fan-out to come finds this delivery by its key and adds none). Returns
    how many were created."""
    ev = tables.Event
    missed = session.scalars(
        sa.select(ev)
        .where(
            ev.tenant_id == endpoint.tenant_id,
            ev.mode == endpoint.mode,
            ev.created_at >= max(since, endpoint.created_at),
            ~sa.exists().where(_D.c.event_id == ev.id, _D.c.endpoint_id == endpoint.id),
        )
        .order_by(ev.seq)
    ).all()
    created = 0
    for event in missed:
        if not subscribes(endpoint, event.type):
            continue
        delivery_id = uuid.uuid4()
        if insert_delivery(session, delivery_id, event, endpoint, f"{event.id}:{endpoint.id}", now):
            outbox.enqueue(
                session,
                "deliver_webhook",
                tenant_id=event.tenant_id,
                delivery_id=delivery_id,
                now=now,
            )
            created += 1
    return created


def subscribes(endpoint: EndpointRef, event_type: str) -> bool:
    """Whether `endpoint` takes events of `event_type` (by name or by `*`)."""
    return event_type in endpoint.events or WILDCARD in endpoint.events


def insert_delivery(
    session: Session,
    delivery_id: uuid.UUID,
    event: EventRef,
    endpoint: EndpointRef,
    key: str,
    now: datetime,
    resend_of: uuid.UUID | None = None,
) -> bool:
    """A pending delivery of `event` to `endpoint`, due now; False if `key` exists."""
    return sql.insert_ignoring_conflict(
        session,
        _D,
        {
            "id": delivery_id,
            "tenant_id": event.tenant_id,
            "endpoint_id": endpoint.id,
            "event_id": event.id,
            "event_type": event.type,
            "key": key,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "resend_of": resend_of,
            "created_at": now,
            "updated_at": now,
        },
        ["key"],
    )
