"""Attempts on record: each attempt of a delivery ends written down, whatever happened.

`record` writes one attempt and applies what `delivery_outcome.decide` says follows it:
the delivery succeeded, is retried at a time (queued through the outbox), or failed, and
the endpoint's failure count moves or the endpoint is deactivated. An attempt that lost
its worker (its lease ran out unrecorded) or its job (due, never claimed) is recorded here
too, as failed, so every delivery ends.

Attempt errors are fixed sentences a partner may read; exception text goes to the log,
with ids only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import sql, tables
from engine.adapters.webhook_sender import AttemptResult, clean_text
from engine.domain import delivery_outcome
from engine.domain.statuses import DELIVERY_OPEN, DeliveryStatus
from engine.services import outbox
from engine.services.context import Context

#: Attempt errors for failures on our side: partner-safe, no exception text.
SEND_FAILED = "the attempt could not be sent because of an error on our side"
RECORD_FAILED = "the receiver's response could not be recorded"
SECRET_UNREADABLE = "the endpoint's signing secret could not be opened; rotate the secret"
UNPREPARED = "the attempt could not be prepared because of an error on our side"
WORKER_LOST = "the attempt did not finish (its worker stopped or was lost)"
JOB_LOST = "the attempt's job was lost before it ran"


@dataclass(frozen=True)
class Attempted:
    """Which attempt of which delivery is being recorded."""

    delivery_id: uuid.UUID
    attempt: int
    endpoint_id: uuid.UUID
    tenant_id: uuid.UUID


def failure(error: str) -> AttemptResult:
    """An attempt that got no answer, with `error` (one of the sentences above)."""
    return AttemptResult(status_code=None, latency_ms=0, body=None, error=error, retry_after=None)


_D = tables.table_of(tables.WebhookDelivery)
_E = tables.table_of(tables.WebhookEndpoint)
_A = tables.table_of(tables.WebhookAttempt)
#: How fresh an endpoint's `last_triggered_at` is kept.
TRIGGERED_RESOLUTION = timedelta(seconds=1)

#: Taking a stalled, never-claimed delivery to record its lost attempt: held as a claim
#: is, so no worker sends it while that is recorded.
_TAKE_STALLED = (
    sa.update(_D)
    .where(
        _D.c.id == sa.bindparam("did"),
        _D.c.status.in_([s.value for s in DELIVERY_OPEN]),
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
_RECORD = (
    sa.update(_D)
    .where(
        _D.c.id == sa.bindparam("did"),
        _D.c.attempts == sa.bindparam("attempt"),
        _D.c.status.in_([s.value for s in DELIVERY_OPEN]),
    )
    .values(
        status=sa.bindparam("outcome"),
        next_attempt_at=sa.bindparam("retry_at"),
        lease_until=None,
        updated_at=sa.bindparam("now"),
        last_status_code=sa.bindparam("code"),
        last_error=sa.bindparam("error"),
        # Set by a success only; a failure keeps what was there.
        delivered_at=sa.func.coalesce(
            sa.bindparam("delivered_at", type_=_D.c.delivered_at.type), _D.c.delivered_at
        ),
    )
)
#: A success resets the endpoint's failure count and stamps `last_triggered_at`, to the
#: second: an endpoint taking many deliveries at once is written once a second, not by
#: every one of them (each would hold its row lock until its commit, one after another).
_ENDPOINT_OK = (
    sa.update(_E)
    .where(
        _E.c.id == sa.bindparam("eid"),
        sa.or_(
            _E.c.consecutive_failures != 0,
            _E.c.last_triggered_at.is_(None),
            _E.c.last_triggered_at < sa.bindparam("stale"),
        ),
    )
    .values(consecutive_failures=0, last_triggered_at=sa.bindparam("now"))
)
#: The endpoint's count, locked to the end of the transaction: concurrent failed attempts
#: to one endpoint are counted one after the other.
_LOCK_FAILURES = (
    sa.select(_E.c.consecutive_failures).where(_E.c.id == sa.bindparam("eid")).with_for_update()
)
_SET_FAILURES = (
    sa.update(_E)
    .where(_E.c.id == sa.bindparam("eid"))
    .values(consecutive_failures=sa.bindparam("failures"))
)


def record_lost(
    app: Context,
    delivery_id: uuid.UUID,
    attempt: int,
    endpoint_id: uuid.UUID,
    tenant_id: uuid.UUID,
) -> str:
    """An attempt whose lease ran out unrecorded (its worker died) counts as failed, but
    not toward deactivating the endpoint: the failure was ours, not the partner's."""
    gone = failure(WORKER_LOST)
    attempted = Attempted(delivery_id, attempt, endpoint_id, tenant_id)
    return record(app, attempted, gone, ours=True, lost=True)


def record_unstarted(app: Context, delivery_id: uuid.UUID, due_before: datetime) -> str:
    """A delivery due since before `due_before` and never claimed (its job was lost before
    it ran) counts one failed attempt, and the next is scheduled by the backoff.

    Returns what `delivery.deliver` would, or `skipped` if it is no longer stalled (a
    worker took it meanwhile).
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
    taken = Attempted(delivery_id, attempt, endpoint_id, tenant_id)
    return record(app, taken, failure(JOB_LOST), ours=True, lost=True)


def record(
    app: Context,
    claim: Attempted,
    result: AttemptResult,
    *,
    ours: bool = False,
    lost: bool = False,
) -> str:
    """Put an attempt on record and apply what follows it (`delivery_outcome.decide`).

    `ours`: the failure was on our side (the job was lost, or the attempt could not be
    prepared) and the receiver never saw it, so it does not count toward deactivating the
    endpoint. `lost`: the attempt was lost to a crash of ours (its job or its worker), so
    it may be retried beyond the schedule (`delivery_outcome.OURS_EXTRA_ATTEMPTS`).

    Returns `succeeded`, `retrying`, `failed`, or `superseded` when a later claim has
    taken the delivery since this attempt's (then only the attempt itself is kept).
    """
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
    with app.uow() as uow:
        session = uow.session
        sql.insert_ignoring_conflict(session, _A, attempt, ["delivery_id", "number"])
        failures_before = 0
        if delivery_outcome.counts_against_endpoint(result.status_code, ours=ours):
            failures_before = session.execute(
                _LOCK_FAILURES, {"eid": claim.endpoint_id}
            ).scalar_one()
        outcome = delivery_outcome.decide(
            status_code=result.status_code,
            attempt=claim.attempt,
            schedule_s=settings.webhook_retry_schedule_s,
            retry_after=result.retry_after,
            now=now,
            consecutive_failures=failures_before,
            max_failures=settings.webhook_max_consecutive_failures,
            ours=ours,
            lost=lost,
        )
        last_error = attempt["error"]
        if outcome.cut_short:
            last_error = _deactivated_error(outcome.deactivate)
        succeeded = outcome.status == DeliveryStatus.SUCCEEDED
        done = session.execute(
            _RECORD,
            {
                "did": claim.delivery_id,
                "attempt": claim.attempt,
                "outcome": outcome.status,
                "retry_at": outcome.retry_at,
                "now": now,
                "code": result.status_code,
                "error": last_error,
                "delivered_at": now if succeeded else None,
            },
        )
        if not _changed(done):
            uow.commit()
            return "superseded"
        if succeeded:
            stale = now - TRIGGERED_RESOLUTION
            session.execute(_ENDPOINT_OK, {"eid": claim.endpoint_id, "now": now, "stale": stale})
        elif outcome.failures is not None:
            session.execute(_SET_FAILURES, {"eid": claim.endpoint_id, "failures": outcome.failures})
        if outcome.deactivate is not None:
            _deactivate(session, claim.endpoint_id, outcome.deactivate, now)
        if outcome.retry_at is not None:
            outbox.enqueue(
                session,
                "deliver_webhook",
                tenant_id=claim.tenant_id,
                delivery_id=claim.delivery_id,
                now=now,
                available_at=outcome.retry_at,
            )
        uow.commit()
        return outcome.status


def _changed(result: sa.Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _deactivated_error(reason: str | None) -> str:
    return f"endpoint deactivated: {reason}"


def _deactivate(session: Session, endpoint_id: uuid.UUID, reason: str, now: datetime) -> None:
    """Stop sending to an endpoint; its other queued deliveries fail now, not later."""
    endpoint = session.get(tables.WebhookEndpoint, endpoint_id)
    assert endpoint is not None
    endpoint.is_active = False
    endpoint.deactivated_reason = reason
    endpoint.updated_at = now
    d = tables.WebhookDelivery
    session.execute(
        sa.update(d)
        .where(
            d.endpoint_id == endpoint.id,
            d.status.in_([s.value for s in DELIVERY_OPEN]),
            sa.or_(d.lease_until.is_(None), d.lease_until < now),
        )
        .values(
            status=DeliveryStatus.FAILED.value,
            next_attempt_at=None,
            last_error=_deactivated_error(reason),
            updated_at=now,
        )
    )
