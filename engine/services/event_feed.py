"""The events feed (GET /events): a tenant's events oldest-first, after a cursor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from engine import errors
from engine.adapters import tables
from engine.domain import event_types, paging
from engine.services.context import Context
from engine.services.principals import Principal

#: Events a feed page may hold.
MAX_LIMIT = 500


@dataclass(frozen=True)
class EventPage:
    events: list[tables.Event]
    has_more: bool


def list_events(
    app: Context,
    principal: Principal,
    *,
    after: str | None = None,
    limit: int = 100,
    type: str | None = None,
    order_id: uuid.UUID | None = None,
) -> EventPage:
    """The tenant's events oldest-first after the event id `after`.

    Events younger than EVENTS_SETTLE_S are held back, so an event whose transaction
    commits late is never skipped by a reader that has already moved past it.

    Raises:
        ValidationFailed: bad limit, type or cursor.
    """
    problems = paging.limit_problems(limit, MAX_LIMIT)
    if type is not None and not event_types.is_event_type(type):
        problems.append(errors.FieldProblem("type", f"type must be one of {event_types.listed()}"))
    cursor_id: uuid.UUID | None = None
    if after:
        try:
            cursor_id = uuid.UUID(after)
        except ValueError:
            problems.append(errors.FieldProblem("after", "after must be an event id"))
    if problems:
        raise errors.ValidationFailed(problems)
    ev = tables.Event
    now = app.clock()
    where: list[sa.ColumnElement[bool]] = [
        principal.owns(ev),
        ev.created_at <= now - timedelta(seconds=app.settings.events_settle_s),
    ]
    if type is not None:
        where.append(ev.type == type)
    if order_id is not None:
        where.append(ev.order_id == order_id)
    with app.uow() as uow:
        session = uow.session
        if cursor_id is not None:
            seq = session.scalar(
                sa.select(ev.seq).where(
                    ev.id == cursor_id,
                    principal.owns(ev),
                )
            )
            if seq is None:
                raise errors.NotFound("event", cursor_id)
            where.append(ev.seq > seq)
        rows = list(session.scalars(sa.select(ev).where(*where).order_by(ev.seq).limit(limit + 1)))
    return EventPage(rows[:limit], len(rows) > limit)
