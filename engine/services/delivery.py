"""Delivery: claim a delivery's next attempt, sign it, send it, and have it recorded.

One delivery per (event, endpoint), with one stable `webhook-id` (the delivery id) across
its attempts. An attempt is claimed with a lease first, so two workers never send the same
delivery at once, and the lease outlives the actor's time limit, so a slow send is never
sent again while it runs; a worker killed mid-send leaves a lease that expires, and the
sweeper records that attempt as failed (`attempts.record_lost`). So does an attempt whose
job was lost before it ran, and one that could not be prepared (e.g. a secret sealed under
a key we no longer hold): every delivery ends.
Receivers see at-least-once delivery and can dedupe on `webhook-id`.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import secretbox, tables
from engine.domain import signing
from engine.domain.statuses import DELIVERY_OPEN, DeliveryStatus
from engine.domain.timestamps import iso
from engine.services import attempts, jobs, webhooks
from engine.services.context import Context

log = logging.getLogger("inkwell.deliveries")


class EventBody(Protocol):
    """What a webhook's body is made of (an Event, or a row with those columns)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def type(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def data(self) -> dict[str, Any]: ...


def payload(event: EventBody) -> bytes:
    """The exact bytes sent for an event: the same for every endpoint and attempt."""
    body = {
        "id": str(event.id),
        "event": event.type,
        "timestamp": iso(event.created_at),
        "data": event.data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class _Claim(attempts.Attempted):
    url: str
    secrets: list[str]
    body: bytes
    event_type: str


class _Unprepared(Exception):
    """A claimed attempt that could not be prepared for sending (raised by `_claim`)."""

    def __init__(self, attempted: attempts.Attempted, reason: str) -> None:
        super().__init__(reason)
        self.attempted = attempted
        self.reason = reason


def deliver(app: Context, delivery_id: uuid.UUID) -> str:
    """Send one attempt of a delivery if it is due and nobody else holds it.

    Whatever happens in sending or recording, the attempt ends on record: succeeded, or
    failed and scheduled by the backoff (or failed for good).

    Returns what happened: `skipped`, `succeeded`, `retrying`, `failed` or `superseded`.
    """
    try:
        claim = _claim(app, delivery_id)
    except _Unprepared as e:
        return attempts.record(app, e.attempted, attempts.failure(e.reason), ours=True)
    if claim is None:
        return "skipped"
    try:
        headers = signing.headers(
            msg_id=str(claim.delivery_id),
            timestamp=int(app.clock().timestamp()),
            body=claim.body,
            secrets_=claim.secrets,
            event_type=claim.event_type,
        )
        result = app.sender.post(claim.url, claim.body, headers)
    except Exception:  # a fault of ours still ends the attempt, logged
        log.warning(
            "webhook delivery %s attempt %d: sending failed",
            delivery_id,
            claim.attempt,
            exc_info=True,
        )
        result = attempts.failure(attempts.SEND_FAILED)
    try:
        return attempts.record(app, claim, result)
    except Exception:  # e.g. the database refused something the receiver sent
        log.warning(
            "webhook delivery %s attempt %d: recording the attempt failed",
            delivery_id,
            claim.attempt,
            exc_info=True,
        )
        # Ours (e.g. the database dropped us after the receiver said 2xx): it does not
        # count toward deactivating the endpoint.
        return attempts.record(app, claim, attempts.failure(attempts.RECORD_FAILED), ours=True)


_D = tables.table_of(tables.WebhookDelivery)
_E = tables.table_of(tables.WebhookEndpoint)
_EV = tables.table_of(tables.Event)

#: Built once (they run for every attempt): claim, load.
_CLAIM = (
    sa.update(_D)
    .where(
        _D.c.id == sa.bindparam("did"),
        _D.c.status.in_([s.value for s in DELIVERY_OPEN]),
        sa.or_(_D.c.lease_until.is_(None), _D.c.lease_until < sa.bindparam("now")),
        sa.or_(_D.c.next_attempt_at.is_(None), _D.c.next_attempt_at <= sa.bindparam("due")),
    )
    .values(
        lease_until=sa.bindparam("lease"),
        attempts=_D.c.attempts + 1,
        updated_at=sa.bindparam("now"),
    )
    .returning(_D.c.attempts, _D.c.endpoint_id, _D.c.event_id, _D.c.tenant_id)
)
_LOAD = (
    sa.select(
        _E.c.url,
        _E.c.secret,
        _E.c.previous_secret,
        _E.c.previous_secret_expires_at,
        _E.c.is_active,
        _EV.c.id,
        _EV.c.type,
        _EV.c.created_at,
        _EV.c.data,
    )
    .select_from(_E.join(_EV, sa.true()))
    .where(_E.c.id == sa.bindparam("eid"), _EV.c.id == sa.bindparam("evid"))
)
_UPDATE_DELIVERY = sa.update(_D).where(_D.c.id == sa.bindparam("did"))


def _claim(app: Context, delivery_id: uuid.UUID) -> _Claim | None:
    """Claim the delivery's next attempt and load what sending it takes; None if it is not
    due, held by another worker, or its endpoint is deactivated.

    Raises:
        _Unprepared: claimed (and committed), but it cannot be sent; record it as failed.
    """
    now = app.clock()
    lease = now + timedelta(seconds=app.settings.webhook_lease_s)
    params = {"did": delivery_id, "now": now, "due": now + timedelta(seconds=1), "lease": lease}
    with app.uow() as uow:
        row = uow.session.execute(_CLAIM, params).one_or_none()
        if row is None:
            return None
        try:
            claim = _prepare(app, uow.session, delivery_id, row, now)
            # The send and its record are what this job does; its run is written with them.
            uow.commit(midway=claim is not None)
            return claim
        except Exception as e:
            if jobs.is_transient(e):
                raise  # the actor retries it; nothing was claimed
            log.warning(
                "webhook delivery %s attempt %d: the attempt could not be prepared",
                delivery_id,
                row.attempts,
                exc_info=True,
            )
            reason = (
                attempts.SECRET_UNREADABLE
                if isinstance(e, secretbox.CannotOpen)
                else attempts.UNPREPARED
            )
    # That transaction may be unusable (a database error in it), so it was rolled back;
    # the attempt is claimed again in a fresh one, to be recorded as failed.
    with app.uow() as uow:
        row = uow.session.execute(_CLAIM, params).one_or_none()
        uow.commit()
    if row is None:
        return None  # someone else has it now
    attempt, endpoint_id, _, tenant_id = row
    raise _Unprepared(attempts.Attempted(delivery_id, attempt, endpoint_id, tenant_id), reason)


def _prepare(
    app: Context,
    session: Session,
    delivery_id: uuid.UUID,
    row: sa.Row[tuple[int, uuid.UUID, uuid.UUID, uuid.UUID]],
    now: datetime,
) -> _Claim | None:
    """What sending a claimed attempt takes; None (and the delivery failed) if its endpoint
    has been deactivated. The caller commits."""
    attempt, endpoint_id, event_id, tenant_id = row
    loaded = session.execute(_LOAD, {"eid": endpoint_id, "evid": event_id}).one()
    if not loaded.is_active:
        session.execute(
            _UPDATE_DELIVERY.values(
                status=DeliveryStatus.FAILED.value,
                attempts=_D.c.attempts - 1,
                lease_until=None,
                last_error="endpoint is deactivated; reactivate it to send again",
                updated_at=now,
            ),
            {"did": delivery_id},
        )
        return None
    return _Claim(
        delivery_id=delivery_id,
        attempt=attempt,
        url=loaded.url,
        secrets=webhooks.signing_secrets(loaded, now, app.secret_keys),
        body=payload(loaded),
        event_type=loaded.type,
        endpoint_id=endpoint_id,
        tenant_id=tenant_id,
    )
