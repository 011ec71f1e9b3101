"""Every actor run, recorded; failures listed and replayed through the same stage.

A run is written when it starts (so a run killed mid-way is still on record, left
`running`) and finished with its outcome, error and traceback. Both writes skip waiting
for the disk on Postgres: they are a log, and losing one in a database crash loses nothing
the orders themselves do not record.
"""

from __future__ import annotations

import logging
import traceback as tb
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import outbox, pipeline

log = logging.getLogger("inkwell.jobs")

#: Errors worth retrying: the database or the disk was briefly unavailable.
TRANSIENT: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    OSError,
    TimeoutError,
    ConnectionError,
)


class JobFailed(Exception):
    """A run gave up for good: not retried (the actors list it in `throws`)."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.DBAPIError) and not isinstance(
        exc, sa.exc.OperationalError | sa.exc.InterfaceError
    ):
        return False
    return isinstance(exc, TRANSIENT)


def _fast(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL synchronous_commit = off"))


@dataclass(frozen=True)
class JobContext:
    actor_name: str
    queue_name: str
    message_id: str
    #: 1 for the first run of a message, 2 for its first retry, …
    attempt: int
    max_attempts: int
    args: dict[str, object]

    @property
    def order_id(self) -> uuid.UUID | None:
        value = self.args.get("order_id")
        return uuid.UUID(str(value)) if value else None


def run(app: Inkwell, ctx: JobContext, work: Callable[[], object]) -> object:
    """Run `work` as one recorded job.

    Transient errors are re-raised for the broker to retry while attempts remain. Anything
    else (or a transient error on the last attempt) is permanent: a pipeline stage fails its
    order with the reason (hold voided, `order.failed`), and JobFailed is raised.
    """
    run_id = _start(app, ctx)
    try:
        result = work()
    except Exception as exc:
        retrying = is_transient(exc) and ctx.attempt < ctx.max_attempts
        _finish(app, run_id, "retrying" if retrying else "failed", exc)
        if retrying:
            raise
        if ctx.order_id is not None and ctx.actor_name in pipeline.ACTOR_STAGE:
            reason = f"{ctx.actor_name} failed: {type(exc).__name__}: {exc}"
            pipeline.fail_order(app, ctx.order_id, reason[:1000])
        raise JobFailed(f"{ctx.actor_name} {ctx.message_id}: {exc}") from exc
    _finish(app, run_id, "succeeded", None)
    return result


def _start(app: Inkwell, ctx: JobContext) -> uuid.UUID:
    run_id = uuid.uuid4()
    with app.session_factory() as session:
        _fast(session)
        session.add(
            tables.JobRun(
                id=run_id,
                actor_name=ctx.actor_name,
                queue_name=ctx.queue_name,
                message_id=ctx.message_id,
                order_id=ctx.order_id,
                args=ctx.args,
                attempt=ctx.attempt,
                outcome="running",
                started_at=app.clock(),
            )
        )
        session.commit()
    return run_id


def _finish(app: Inkwell, run_id: uuid.UUID, outcome: str, exc: BaseException | None) -> None:
    values: dict[str, object] = {"outcome": outcome, "finished_at": app.clock()}
    if exc is not None:
        values["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        values["traceback"] = "".join(tb.format_exception(exc))[-8000:]
    with app.session_factory() as session:
        _fast(session)
        session.execute(sa.update(tables.JobRun).where(tables.JobRun.id == run_id).values(**values))
        session.commit()


def failed_runs(
    app: Inkwell, *, actor: str | None = None, include_replayed: bool = False, limit: int = 100
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


def replay(app: Inkwell, run_ids: list[uuid.UUID]) -> list[Replayed]:
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


def _replay_one(app: Inkwell, found: tables.JobRun) -> str:
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
    with app.uow() as uow:
        uow.session.execute(
            sa.update(tables.JobRun).where(tables.JobRun.id == found.id).values(replayed_at=now)
        )
        uow.commit()
    return result


def _enqueue(app: Inkwell, found: tables.JobRun) -> str:
    if found.actor_name == "deliver_webhook":
        delivery_id = found.args.get("delivery_id")
        with app.uow() as uow:
            delivery = uow.session.get(tables.WebhookDelivery, uuid.UUID(str(delivery_id)))
            if delivery is not None and delivery.status == "failed":
                from engine.services import webhooks

                webhooks.requeue(uow.session, delivery, app.clock())
                uow.commit()
                return "delivery re-queued"
    with app.uow() as uow:
        outbox.enqueue(uow.session, found.actor_name, now=app.clock(), **dict(found.args))
        uow.commit()
    return "enqueued again"
