"""Replay: failed job runs listed for operators and run again through the same stage.

A replay goes through the same idempotent stage as the first run: a failed order is
re-opened first (`pipeline.reopen`), a failed delivery is queued again, anything else is
enqueued again with its arguments. Each replayed run is marked, so it is listed once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from engine import errors
from engine.adapters import tables
from engine.domain.statuses import DeliveryStatus
from engine.services import outbox, pipeline, webhooks
from engine.services.context import Context


def failed_runs(
    app: Context, *, actor: str | None = None, include_replayed: bool = False, limit: int = 100
) -> list[tables.JobRun]:
    """Runs that gave up, newest first."""
    j = tables.JobRun
    where = [j.outcome == "failed"]
    if actor:
        where.append(j.actor_name == actor)
    if not include_replayed:
        where.append(j.replayed_at.is_(None))
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(j).where(*where).order_by(j.started_at.desc()).limit(limit)
            )
        )


@dataclass(frozen=True)
class Replayed:
    run_id: uuid.UUID
    actor_name: str
    result: str


def replay(app: Context, run_ids: list[uuid.UUID]) -> list[Replayed]:
    """Run failed jobs again through the same idempotent stage.

    A failed order is re-opened first (pending again, hold placed again); when its wallet
    can no longer cover it, that replay is refused with the shortfall and nothing changes.
    """
    results: list[Replayed] = []
    for run_id in run_ids:
        with app.uow() as uow:
            found = uow.session.get(tables.JobRun, run_id)
        if found is None:
            results.append(Replayed(run_id, "?", "not found"))
            continue
        results.append(Replayed(run_id, found.actor_name, _replay_one(app, found)))
    return results


def _replay_one(app: Context, found: tables.JobRun) -> str:
    now = app.clock()
    try:
        if found.order_id is not None and found.actor_name in pipeline.ACTOR_STAGE:
            if pipeline.reopen(app, found.order_id):
                result = "order re-opened and resumed"
            else:
                result = _enqueue(app, found)
        else:
            result = _enqueue(app, found)
    except errors.InsufficientCredits as e:
        return (
            f"refused: wallet holds {e.balance_cents} cents, order costs {e.cost_cents} "
            f"(short {e.shortfall_cents})"
        )
    except errors.Conflict as e:
        return f"refused: {e.message}"
    with app.uow() as uow:
        uow.session.execute(
            sa.update(tables.JobRun).where(tables.JobRun.id == found.id).values(replayed_at=now)
        )
        uow.commit()
    return result


def _enqueue(app: Context, found: tables.JobRun) -> str:
    if found.actor_name == "deliver_webhook":
        delivery_id = found.args.get("delivery_id")
        with app.uow() as uow:
            delivery = uow.session.get(tables.WebhookDelivery, uuid.UUID(str(delivery_id)))
            if delivery is not None and delivery.status == DeliveryStatus.FAILED.value:
                webhooks.requeue(uow.session, delivery, app.clock())
                uow.commit()
                return "delivery re-queued"
    with app.uow() as uow:
        tenant_id = (
            uow.session.scalar(
                sa.select(tables.Order.tenant_id).where(tables.Order.id == found.order_id)
            )
            if found.order_id
            else None
        )
        outbox.enqueue(
            uow.session, found.actor_name, tenant_id=tenant_id, now=app.clock(), **dict(found.args)
        )
        uow.commit()
    return "enqueued again"
