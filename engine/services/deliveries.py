"""Webhook deliveries: fan an event out, send attempts, log them, retry and resend.

One delivery per (event, endpoint), with one stable `webhook-id` (the delivery id) across
its attempts. An attempt is claimed with a lease first, so two workers never send the same
delivery at once, and the lease outlives the actor's time limit, so a slow send is never
sent again while it runs; a worker killed mid-send leaves a lease that expires, and the
sweeper records that attempt as failed and schedules the next one by the backoff. So does
an attempt whose job was lost before it ran, and one that could not be prepared (e.g. a
secret sealed under a key we no longer hold): every delivery ends.
Receivers see at-least-once delivery and can dedupe on `webhook-id`.

Attempt errors are fixed sentences a partner may read; exception text goes to the log,
with ids only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import secretbox, sql, tables
from engine.adapters.webhook_sender import AttemptResult, clean_text
from engine.bootstrap import Inkwell
from engine.domain import backoff, signing
from engine.domain.timestamps import iso
from engine.services import jobs, outbox, webhooks
from engine.services.events import EVENT_TYPES
from engine.services.keys import Principal

log = logging.getLogger("inkwell.deliveries")
DELIVERY_STATUSES = ("pending", "retrying", "succeeded", "failed")


def fan_out(app: Inkwell, event_id: uuid.UUID) -> int:
    """One delivery per subscribed active endpoint; returns how many were created."""
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        event = session.scalar(sa.select(tables.Event).where(tables.Event.id == event_id))
        if event is None or event.fanned_out_at is not None:
            return 0
        e = tables.WebhookEndpoint
        endpoints = session.scalars(
            sa.select(e).where(
                e.tenant_id == event.tenant_id, e.mode == event.mode, e.is_active.is_(True)
            )
        ).all()
        created = 0
        for endpoint in endpoints:
            if event.type not in endpoint.events and "*" not in endpoint.events:
                continue
            delivery_id = uuid.uuid4()
            if _insert_delivery(
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
        event.fanned_out_at = now
        uow.commit()
    return created


def _insert_delivery(
    session: Session,
    delivery_id: uuid.UUID,
    event: tables.Event,
    endpoint: tables.WebhookEndpoint,
    key: str,
    now: datetime,
    resend_of: uuid.UUID | None = None,
) -> bool:
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
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "resend_of": resend_of,
            "created_at": now,
            "updated_at": now,
        },
        ["key"],
    )


def payload(event: Any) -> bytes:
    """The exact bytes sent for an event: the same for every endpoint and attempt.

    `event` is an Event or a row with its `id`, `type`, `created_at` and `data`.
    """
    body = {
        "id": str(event.id),
        "event": event.type,
        "timestamp": iso(event.created_at),
        "data": event.data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class _Attempted:
    """Which attempt of which delivery is being recorded."""

    delivery_id: uuid.UUID
    attempt: int
    endpoint_id: uuid.UUID
    tenant_id: uuid.UUID


@dataclass(frozen=True)
class _Claim(_Attempted):
    url: str
    secrets: list[str]
    body: bytes
    event_type: str


class _Unprepared(Exception):
    """A claimed attempt that could not be prepared for sending (raised by `_claim`)."""

    def __init__(self, attempted: _Attempted, reason: str) -> None:
        super().__init__(reason)
        self.attempted = attempted
        self.reason = reason


#: Attempt errors for failures on our side: partner-safe, no exception text.
SEND_FAILED = "the attempt could not be sent because of an error on our side"
RECORD_FAILED = "the receiver's response could not be recorded"
SECRET_UNREADABLE = "the endpoint's signing secret could not be opened; rotate the secret"
UNPREPARED = "the attempt could not be prepared because of an error on our side"
WORKER_LOST = "the attempt did not finish (its worker stopped or was lost)"
JOB_LOST = "the attempt's job was lost before it ran"


def _failure(error: str) -> AttemptResult:
    return AttemptResult(status_code=None, latency_ms=0, body=None, error=error, retry_after=None)


def deliver(app: Inkwell, delivery_id: uuid.UUID) -> str:
    """Send one attempt of a delivery if it is due and nobody else holds it.

    Whatever happens in sending or recording, the attempt ends on record: succeeded, or
    failed and scheduled by the backoff (or failed for good).

    Returns what happened: `skipped`, `succeeded`, `retrying`, `failed` or `superseded`.
    """
    try:
        claim = _claim(app, delivery_id)
    except _Unprepared as e:
        return _record(app, e.attempted, _failure(e.reason), ours=True)
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
        result = _failure(SEND_FAILED)
    try:
        return _record(app, claim, result)
    except Exception:  # e.g. the database refused something the receiver sent
        log.warning(
            "webhook delivery %s attempt %d: recording the attempt failed",
            delivery_id,
            claim.attempt,
            exc_info=True,
        )
        return _record(app, claim, _failure(RECORD_FAILED))


def record_lost_attempt(
    app: Inkwell,
    delivery_id: uuid.UUID,
    attempt: int,
    endpoint_id: uuid.UUID,
    tenant_id: uuid.UUID,
) -> str:
    """An attempt whose lease ran out unrecorded (its worker died) counts as failed."""
    lost = _failure(WORKER_LOST)
    return _record(app, _Attempted(delivery_id, attempt, endpoint_id, tenant_id), lost)


def record_unstarted_attempt(app: Inkwell, delivery_id: uuid.UUID, due_before: datetime) -> str:
    """A delivery due since before `due_before` and never claimed (its job was lost before
    it ran) counts one failed attempt, and the next is scheduled by the backoff.

    Returns what `deliver` would, or `skipped` if it is no longer stalled (a worker took
    it meanwhile).
    """
    now = app.clock()
    with app.uow() as uow:
        row = uow.session.execute(
            _TAKE_STALLED,
            {
                "did": delivery_id,
                "before": due_before,
                "now": now,
                "lease": now + timedelta(seconds=app.settings.webhook_lease_s),
            },
        ).one_or_none()
        uow.commit()
    if row is None:
        return "skipped"
    attempt, endpoint_id, tenant_id = row
    taken = _Attempted(delivery_id, attempt, endpoint_id, tenant_id)
    return _record(app, taken, _failure(JOB_LOST), ours=True)


_D = tables.table_of(tables.WebhookDelivery)
_E = tables.table_of(tables.WebhookEndpoint)
_EV = tables.table_of(tables.Event)
_A = tables.table_of(tables.WebhookAttempt)

#: Built once (they run for every attempt): claim, load, record.
_CLAIM = (
    sa.update(_D)
    .where(
        _D.c.id == sa.bindparam("did"),
        _D.c.status.in_(("pending", "retrying")),
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
#: Taking a stalled, never-claimed delivery to record its lost attempt: held as a claim
#: is, so no worker sends it while that is recorded.
_TAKE_STALLED = (
    sa.update(_D)
    .where(
        _D.c.id == sa.bindparam("did"),
        _D.c.status.in_(("pending", "retrying")),
        _D.c.lease_until.is_(None),
        sa.func.coalesce(_D.c.next_attempt_at, _D.c.created_at) < sa.bindparam("before"),
    )
    .values(
        lease_until=sa.bindparam("lease"),
        attempts=_D.c.attempts + 1,
        updated_at=sa.bindparam("now"),
    )
    .returning(_D.c.attempts, _D.c.endpoint_id, _D.c.tenant_id)
)
#: Recording an attempt: only if no later claim has taken the delivery since ours (an
#: attempt that outlived its lease must not overwrite the newer one's outcome).
_RECORD = sa.update(_D).where(
    _D.c.id == sa.bindparam("did"),
    _D.c.attempts == sa.bindparam("attempt"),
    _D.c.status.in_(("pending", "retrying")),
)
_ENDPOINT_OK = (
    sa.update(_E)
    .where(_E.c.id == sa.bindparam("eid"))
    .values(consecutive_failures=0, last_triggered_at=sa.bindparam("now"))
)
_ENDPOINT_FAILED = (
    sa.update(_E)
    .where(_E.c.id == sa.bindparam("eid"))
    .values(consecutive_failures=_E.c.consecutive_failures + 1)
    .returning(_E.c.consecutive_failures)
)


def _claim(app: Inkwell, delivery_id: uuid.UUID) -> _Claim | None:
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
            uow.commit()
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
            reason = SECRET_UNREADABLE if isinstance(e, secretbox.CannotOpen) else UNPREPARED
    # That transaction may be unusable (a database error in it), so it was rolled back;
    # the attempt is claimed again in a fresh one, to be recorded as failed.
    with app.uow() as uow:
        row = uow.session.execute(_CLAIM, params).one_or_none()
        uow.commit()
    if row is None:
        return None  # someone else has it now
    attempt, endpoint_id, _, tenant_id = row
    raise _Unprepared(_Attempted(delivery_id, attempt, endpoint_id, tenant_id), reason)


def _prepare(
    app: Inkwell, session: Session, delivery_id: uuid.UUID, row: sa.Row[Any], now: datetime
) -> _Claim | None:
    """What sending a claimed attempt takes; None (and the delivery failed) if its endpoint
    has been deactivated. The caller commits."""
    attempt, endpoint_id, event_id, tenant_id = row
    loaded = session.execute(_LOAD, {"eid": endpoint_id, "evid": event_id}).one()
    if not loaded.is_active:
        session.execute(
            _UPDATE_DELIVERY.values(
                status="failed",
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


def _record(app: Inkwell, claim: _Attempted, result: AttemptResult, *, ours: bool = False) -> str:
    """Put an attempt on record and decide what follows: done, the next attempt by the
    backoff, or failed. `ours`: the failure was on our side (the job was lost, or the
    attempt could not be prepared) and the receiver never saw it, so it does not count
    toward deactivating the endpoint."""
    now = app.clock()
    settings = app.settings
    error = result.error
    attempt: dict[str, object] = {
        "id": uuid.uuid4(),
        "delivery_id": claim.delivery_id,
        "number": claim.attempt,
        "attempted_at": now,
        "status_code": result.status_code,
        "latency_ms": result.latency_ms,
        # Cleaned again here: Postgres text refuses NUL, and nothing a receiver sends may
        # stop an attempt from being recorded.
        "response_body": clean_text(result.body) if result.body is not None else None,
        "error": clean_text(error) if error is not None else None,
    }
    common = {
        "lease_until": None,
        "updated_at": now,
        "last_status_code": attempt["status_code"],
        "last_error": attempt["error"],
    }
    ok = result.ok
    with app.uow() as uow:
        session = uow.session
        sql.insert_ignoring_conflict(session, _A, attempt, ["delivery_id", "number"])
        guard = {"did": claim.delivery_id, "attempt": claim.attempt}
        if ok:
            done = session.execute(
                _RECORD.values(
                    status="succeeded", delivered_at=now, next_attempt_at=None, **common
                ),
                guard,
            )
            if _changed(done):
                session.execute(_ENDPOINT_OK, {"eid": claim.endpoint_id, "now": now})
            uow.commit()
            return "succeeded" if _changed(done) else "superseded"
        gone = result.status_code == 410
        retry_after = backoff.parse_retry_after_s(result.retry_after, now)
        delay = (
            None
            if gone
            else backoff.next_delay_s(settings.webhook_retry_schedule_s, claim.attempt, retry_after)
        )
        next_at = now + timedelta(seconds=delay) if delay is not None else None
        status = "retrying" if next_at is not None else "failed"
        done = session.execute(
            _RECORD.values(status=status, next_attempt_at=next_at, **common), guard
        )
        if not _changed(done):
            uow.commit()
            return "superseded"
        reason = None
        if not ours:
            # Reference 000: N consecutive failed ATTEMPTS deactivate the endpoint.
            failures = session.execute(_ENDPOINT_FAILED, {"eid": claim.endpoint_id}).scalar_one()
            if gone:
                reason = "the endpoint answered 410 Gone"
            elif failures >= settings.webhook_max_consecutive_failures:
                reason = f"{failures} consecutive failed attempts"
        if reason:
            endpoint = session.get(tables.WebhookEndpoint, claim.endpoint_id)
            assert endpoint is not None
            # This delivery's lease is cleared above, so it fails with the others.
            _deactivate(session, endpoint, reason, now)
            status = "failed"
        elif next_at is not None:
            outbox.enqueue(
                session,
                "deliver_webhook",
                tenant_id=claim.tenant_id,
                delivery_id=claim.delivery_id,
                now=now,
                available_at=next_at,
            )
        uow.commit()
        return status


def _changed(result: sa.Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _deactivate(
    session: Session, endpoint: tables.WebhookEndpoint, reason: str, now: datetime
) -> None:
    """Stop sending to an endpoint; its other queued deliveries fail now, not later."""
    endpoint.is_active = False
    endpoint.deactivated_reason = reason
    endpoint.updated_at = now
    d = tables.WebhookDelivery
    session.execute(
        sa.update(d)
        .where(
            d.endpoint_id == endpoint.id,
            d.status.in_(("pending", "retrying")),
            sa.or_(d.lease_until.is_(None), d.lease_until < now),
        )
        .values(
            status="failed",
            next_attempt_at=None,
            last_error=f"endpoint deactivated: {reason}",
            updated_at=now,
        )
    )


#: Delivery log pages, as 001 gives them for GET /webhooks/{id}/deliveries.
DEFAULT_LOG_LIMIT = 50
MAX_LOG_LIMIT = 100
MAX_LOG_OFFSET = 10**9


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[tables.WebhookDelivery]
    attempts: dict[uuid.UUID, list[tables.WebhookAttempt]]
    total: int
    limit: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.deliveries) < self.total


def list_deliveries(
    app: Inkwell,
    principal: Principal,
    *,
    endpoint_id: uuid.UUID | None = None,
    status: str | None = None,
    event: str | None = None,
    order_id: uuid.UUID | None = None,
    limit: int = DEFAULT_LOG_LIMIT,
    offset: int = 0,
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
    if event is not None and event not in EVENT_TYPES:
        problems.append(
            errors.FieldProblem("event", f"event must be one of {', '.join(EVENT_TYPES)}")
        )
    if not 1 <= limit <= MAX_LOG_LIMIT:
        problems.append(
            errors.FieldProblem("limit", f"limit must be between 1 and {MAX_LOG_LIMIT}")
        )
    if not 0 <= offset <= MAX_LOG_OFFSET:
        problems.append(
            errors.FieldProblem("offset", f"offset must be between 0 and {MAX_LOG_OFFSET}")
        )
    if problems:
        raise errors.ValidationFailed(problems)
    d = tables.WebhookDelivery
    e = tables.WebhookEndpoint
    where: list[sa.ColumnElement[bool]] = [
        e.tenant_id == principal.tenant_id,
        e.mode == principal.mode.value,
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
                base.order_by(d.created_at.desc(), d.id.desc()).limit(limit).offset(offset)
            )
        )
        attempts = _attempts(session, [r.id for r in rows])
    return DeliveryPage(rows, attempts, total, limit, offset)


def _attempts(
    session: Session, delivery_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tables.WebhookAttempt]]:
    out: dict[uuid.UUID, list[tables.WebhookAttempt]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return out
    a = tables.WebhookAttempt
    for attempt in session.scalars(
        sa.select(a).where(a.delivery_id.in_(delivery_ids)).order_by(a.number)
    ):
        out[attempt.delivery_id].append(attempt)
    return out


def _owned_delivery(
    session: Session, principal: Principal, delivery_id: uuid.UUID
) -> tables.WebhookDelivery:
    d = tables.WebhookDelivery
    e = tables.WebhookEndpoint
    delivery = session.scalar(
        sa.select(d)
        .join(e, e.id == d.endpoint_id)
        .where(
            d.id == delivery_id, e.tenant_id == principal.tenant_id, e.mode == principal.mode.value
        )
    )
    if delivery is None:
        raise errors.NotFound("webhook log", delivery_id)
    return delivery


def get_delivery(
    app: Inkwell, principal: Principal, delivery_id: uuid.UUID
) -> tuple[tables.WebhookDelivery, list[tables.WebhookAttempt]]:
    with app.uow() as uow:
        delivery = _owned_delivery(uow.session, principal, delivery_id)
        return delivery, _attempts(uow.session, [delivery.id])[delivery.id]


def retry(app: Inkwell, principal: Principal, delivery_id: uuid.UUID) -> tables.WebhookDelivery:
    """Send one failed delivery again, now.

    Raises:
        NotFound: not the caller's.
        Conflict: the delivery has not failed, or its endpoint is deactivated.
        ManualResendsExhausted: its endpoint had its manual sends this hour.
    """
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        delivery = _owned_delivery(session, principal, delivery_id)
        if delivery.status != "failed":
            raise errors.Conflict(
                f"Webhook log {delivery_id} is {delivery.status}; only failed deliveries "
                "can be retried.",
                suggestion="Wait for its scheduled attempts, or use POST /webhooks/resend.",
            )
        endpoint = session.get(tables.WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
        assert endpoint is not None
        if not endpoint.is_active:
            raise errors.Conflict(
                f"Webhook {endpoint.id} is deactivated ({endpoint.deactivated_reason}).",
                suggestion=f"Reactivate it with POST /webhooks/{endpoint.id}/reactivate.",
            )
        _check_manual_allowance(app, session, endpoint.id, 1, now)
        webhooks.requeue(session, delivery, now)
        _note_manual_send(session, endpoint.id, delivery.id, "retry", now)
        uow.commit()
    return delivery


#: How far back manual sends (retries and resends) count toward an endpoint's allowance.
MANUAL_WINDOW = timedelta(hours=1)


def _check_manual_allowance(
    app: Inkwell, session: Session, endpoint_id: uuid.UUID, adding: int, now: datetime
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
    app: Inkwell, principal: Principal, *, order_id: object, event: object
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
    if event not in EVENT_TYPES:
        problems.append(
            errors.FieldProblem("event", f"event must be one of {', '.join(EVENT_TYPES)}")
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
                ev.tenant_id == principal.tenant_id,
                ev.mode == principal.mode.value,
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
                    e.tenant_id == principal.tenant_id,
                    e.mode == principal.mode.value,
                    e.is_active.is_(True),
                )
                .order_by(e.id)
                .with_for_update()
            )
            if found.type in ep.events or "*" in ep.events
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
            _insert_delivery(
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


@dataclass(frozen=True)
class EventPage:
    events: list[tables.Event]
    has_more: bool


def list_events(
    app: Inkwell,
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
    problems = []
    if not 1 <= limit <= 500:
        problems.append(errors.FieldProblem("limit", "limit must be between 1 and 500"))
    if type is not None and type not in EVENT_TYPES:
        problems.append(
            errors.FieldProblem("type", f"type must be one of {', '.join(EVENT_TYPES)}")
        )
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
        ev.tenant_id == principal.tenant_id,
        ev.mode == principal.mode.value,
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
                    ev.tenant_id == principal.tenant_id,
                    ev.mode == principal.mode.value,
                )
            )
            if seq is None:
                raise errors.NotFound("event", cursor_id)
            where.append(ev.seq > seq)
        rows = list(session.scalars(sa.select(ev).where(*where).order_by(ev.seq).limit(limit + 1)))
    return EventPage(rows[:limit], len(rows) > limit)
