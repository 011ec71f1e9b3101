"""Every actor run, recorded (failures are listed and replayed by `replay`).

A run is written once when it goes well: finished, in the same transaction as its
stage's last commit (`unit_of_work.BEFORE_COMMIT`). A run that is still going after half
a second is written as `running` by a per-process writer (`job_log.JobLog`, every 50 ms),
so one killed mid-way is left `running` (unless it died within that half second, when
only its redelivered message tells). A run whose work committed nothing is written
finished by the same writer. Failures are written at once, before the order is failed.
The writer's writes skip waiting for the disk on Postgres: they are a log.

A failed run's error and traceback are for operators, but they never hold row values:
both pass through `redact.operator_text` (no Postgres DETAIL, no `[SQL: …]`).
"""

from __future__ import annotations

import logging
import traceback as tb
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import tables, unit_of_work
from engine.domain import queues, reasons, redact
from engine.services import pipeline
from engine.services.context import Context
from engine.services.job_log import JobLog, job_log, upsert

__all__ = ["JobContext", "JobFailed", "JobLog", "error_text", "is_transient", "job_log", "run"]

log = logging.getLogger("inkwell.jobs")

#: Errors worth retrying: the database, broker or disk was briefly unavailable.
TRANSIENT: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,  # connection lost, deadlock, serialization failure, timeouts
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,  # pool checkout
    OSError,
    TimeoutError,
    ConnectionError,
)
#: Errors of client libraries we must not import here, by (module prefix, class name).
_TRANSIENT_BY_NAME = {
    ("redis", "ConnectionError"),
    ("redis", "TimeoutError"),
    ("redis", "BusyLoadingError"),
}


class JobFailed(Exception):
    """A run gave up for good: not retried (the actors list it in `throws`)."""


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is an infrastructure hiccup a later attempt may not meet (pure)."""
    for kind in type(exc).__mro__:
        if (kind.__module__.split(".")[0], kind.__name__) in _TRANSIENT_BY_NAME:
            return True
    if isinstance(exc, sa.exc.DBAPIError) and not isinstance(
        exc, sa.exc.OperationalError | sa.exc.InterfaceError
    ):
        return False
    return isinstance(exc, TRANSIENT)


def error_text(exc: BaseException) -> str:
    """`Class: message` for a job record, without the row values a database error holds."""
    return redact.operator_text(f"{type(exc).__name__}: {exc}")


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


def run(
    app: Context,
    ctx: JobContext,
    work: Callable[[], object],
    *,
    interrupts: tuple[type[BaseException], ...] = (),
) -> object:
    """Run `work` as one recorded job.

    `interrupts` are BaseException types the runner raises inside a job (the broker's time
    limit); they are failures of the job like any other error.

    Transient errors are re-raised for the broker to retry while attempts remain. Anything
    else (or a transient error on the last attempt) is permanent: a pipeline stage fails its
    order with the reason (hold voided, `order.failed`), and JobFailed is raised.
    """
    records = job_log(app)
    run_id = uuid.uuid4()
    records.record(
        run_id,
        actor_name=ctx.actor_name,
        queue_name=ctx.queue_name,
        message_id=ctx.message_id,
        order_id=ctx.order_id,
        args=ctx.args,
        attempt=ctx.attempt,
        outcome="running",
        started_at=app.clock(),
    )

    def on_record(session: Session) -> None:
        # Every commit of the job carries its run as succeeded, in the same transaction:
        # a stage passed is never without a finished run, however the worker dies after.
        # (A later failure of the same job overwrites it.)
        row = records.row(run_id, outcome="succeeded", finished_at=app.clock())
        session.execute(upsert(), row)
        committed.append(row)

    #: Rows the job's own commits wrote (the last is on record once its commit returns).
    committed: list[dict[str, object]] = []
    try:
        token = unit_of_work.BEFORE_COMMIT.set(on_record)
        try:
            result = work()
        finally:  # failing the order below is not the job succeeding
            unit_of_work.BEFORE_COMMIT.reset(token)
    except BaseException as exc:
        if not isinstance(exc, (Exception, *interrupts)):
            raise
        transient = is_transient(exc)
        retrying = transient and ctx.attempt < ctx.max_attempts
        records.record(
            run_id,
            outcome="retrying" if retrying else "failed",
            finished_at=app.clock(),
            error=error_text(exc)[:2000],
            traceback=redact.operator_text("".join(tb.format_exception(exc)))[-8000:],
        )
        try:
            records.flush()  # failures are on record before the order is failed
        except Exception:
            log.exception(
                "could not write the failed run of %s now; it stays queued", ctx.actor_name
            )
        if retrying:
            raise
        # A transient error on the last attempt is not the order's fault: the order stays
        # where it was (pending, its stage, its hold) and the run waits in the failed list.
        if not transient and ctx.order_id is not None and ctx.actor_name in pipeline.ACTOR_STAGE:
            pipeline.fail_order(app, ctx.order_id, reasons.stage_failure(ctx.actor_name))
        raise JobFailed(f"{ctx.actor_name} {ctx.message_id}: {error_text(exc)}") from exc
    if committed:
        # Its last commit already wrote the finished run: nothing more to write (the few
        # microseconds since are not worth a second write per job).
        records.forget(run_id)
    else:
        records.record(run_id, outcome="succeeded", finished_at=app.clock())
    return result


def record_failure(
    session: Session, *, actor: str, order_id: uuid.UUID, error: str, now: datetime
) -> None:
    """A stage given up on outside any run (the sweeper), recorded as a failed run."""
    session.add(
        tables.JobRun(
            id=uuid.uuid4(),
            actor_name=actor,
            queue_name=queues.OF_ACTOR[actor].value,
            message_id="sweeper",
            order_id=order_id,
            args={"order_id": str(order_id)},
            attempt=1,
            outcome="failed",
            error=error,
            started_at=now,
            finished_at=now,
        )
    )
