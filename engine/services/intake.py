"""Group commit for new orders: one writer thread per process takes every order waiting
and writes them in one transaction, so a tenant's wallet row is locked once per batch
instead of once per order (the row every order of a tenant must touch).

A request thread prepares its order (validation, pricing), hands it over and waits for its
own answer. A batch that fails as a whole is retried order by order, so one bad order
never fails the others.

The answer and the outcome always agree. Each order carries its request's deadline. The
writer drops an order whose deadline passed before its batch started (answered
ServiceBusy: nothing written); an order whose batch has started is waited for to its real
outcome, and the batch's transaction is bounded by the earliest deadline in it (a lock or
statement past it rolls the whole batch back, so it answers ServiceBusy too). Which side
wins the race is decided once, under the future's own lock: the writer's
`set_running_or_notify_cancel()` against the waiter's `cancel()`.

The database failing is no exception to that. A transient error before COMMIT (connection
refused or reset, pool exhausted, deadlock) rolled the batch back: ServiceBusy. A
connection lost during COMMIT leaves the outcome unknown, so the writer asks the database
which of the batch's orders exist (on a fresh connection, retrying while it is down):
those answer as created, the others ServiceBusy. Only when the database cannot be asked
within `SETTLE_S` does an order answer OutcomeUnknown, which claims neither.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa

from engine import errors
from engine.services import acceptance, jobs
from engine.services.context import Context

log = logging.getLogger("inkwell.intake")
MAX_BATCH = 100
#: Seconds a busy client is told to wait before retrying.
RETRY_AFTER_S = 1
#: How long the writer keeps asking a failing database whether a commit landed.
SETTLE_S = 10.0


class Write(Protocol):
    """Writes a batch in one transaction, bounded by `timeout_s`: per order, its result or
    its own error (`orders.write_orders`)."""

    def __call__(
        self, app: Context, batch: list[acceptance.Prepared], *, timeout_s: float | None = ...
    ) -> list[acceptance.CreatedOrder | errors.InkwellError]: ...


#: Which of these order ids the database holds, asked on a fresh connection
#: (`orders.written`).
Written = Callable[[Context, Sequence[uuid.UUID]], set[uuid.UUID]]


@dataclass
class _Item:
    prepared: acceptance.Prepared
    #: time.monotonic() after which the order must not be started.
    deadline: float
    future: Future[acceptance.CreatedOrder] = field(default_factory=Future)


class Intake:
    def __init__(self, app: Context, write: Write, written: Written) -> None:
        self.app = app
        self._write_batch = write
        self._written = written
        self._closed = False
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="order-intake", daemon=True)
        self._thread.start()

    def submit(self, prepared: acceptance.Prepared) -> acceptance.CreatedOrder:
        """Write `prepared` or raise; ServiceBusy means it was certainly not written."""
        if self._closed:
            raise RuntimeError("order intake is closed")
        wait_s = self.app.settings.intake_deadline_s
        item = _Item(prepared, time.monotonic() + wait_s)
        self._queue.put(item)
        try:
            return item.future.result(timeout=wait_s)
        except TimeoutError:
            if item.future.cancel():  # not started: the writer will skip it
                raise errors.ServiceBusy(retry_after_s=RETRY_AFTER_S) from None
        # Started before our deadline: its transaction is bounded by that deadline, so its
        # real outcome comes soon; answering anything else could contradict it.
        return item.future.result()

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._write(self._start(batch))

    @staticmethod
    def _start(batch: list[_Item]) -> list[_Item]:
        """The items still wanted: past-deadline ones answer busy, cancelled ones are gone."""
        now = time.monotonic()
        started: list[_Item] = []
        for item in batch:
            if item.deadline <= now:
                if item.future.set_running_or_notify_cancel():
                    item.future.set_exception(errors.ServiceBusy(retry_after_s=RETRY_AFTER_S))
            elif item.future.set_running_or_notify_cancel():
                started.append(item)
        return started

    def _write(self, batch: list[_Item]) -> None:
        if not batch:
            return
        timeout_s = min(item.deadline for item in batch) - time.monotonic()
        try:
            if timeout_s <= 0:
                raise errors.ServiceBusy(retry_after_s=RETRY_AFTER_S)
            results = self._write_batch(
                self.app, [item.prepared for item in batch], timeout_s=timeout_s
            )
        except errors.CommitUncertain as exc:
            self._settle(batch, exc.results)
            return
        except Exception as exc:
            if _timed_out(exc) or jobs.is_transient(exc):
                if not _timed_out(exc):
                    log.warning(
                        "batch of %d orders not written: %s", len(batch), type(exc).__name__
                    )
                for item in batch:
                    item.future.set_exception(errors.ServiceBusy(retry_after_s=RETRY_AFTER_S))
                return
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            log.warning(
                "batch of %d orders failed (%s); writing them one by one",
                len(batch),
                type(exc).__name__,
            )
            for item in batch:
                self._write([item])
            return
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, errors.InkwellError):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    def _settle(self, batch: list[_Item], results: list[object]) -> None:
        """Answer a batch whose COMMIT failed midway with what the database really holds."""
        ids = [item.prepared.order.id for item in batch]
        found: set[uuid.UUID] | None = None
        give_up = time.monotonic() + SETTLE_S
        pause_s = 0.05
        while found is None:
            try:
                found = self._written(self.app, ids)
            except Exception as exc:
                if not jobs.is_transient(exc) or time.monotonic() + pause_s > give_up:
                    log.error("could not learn whether %d orders were written", len(ids))
                    for item in batch:
                        item.future.set_exception(errors.OutcomeUnknown(item.prepared.order.id))
                    return
                time.sleep(pause_s)
                pause_s = min(pause_s * 2, 1.0)
        log.warning("commit failed midway: %d of %d orders had landed", len(found), len(ids))
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, acceptance.CreatedOrder) and result.order.id in found:
                item.future.set_result(result)
            elif isinstance(result, errors.InkwellError):
                item.future.set_exception(result)
            else:
                item.future.set_exception(errors.ServiceBusy(retry_after_s=RETRY_AFTER_S))


def _timed_out(exc: BaseException) -> bool:
    """The batch ran past its deadline and was rolled back (nothing of it was kept)."""
    if isinstance(exc, errors.ServiceBusy):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        # 55P03 lock_not_available (lock_timeout), 57014 query_canceled (statement_timeout)
        return getattr(exc.orig, "sqlstate", None) in ("55P03", "57014")
    return False


def submit(
    app: Context, prepared: acceptance.Prepared, *, write: Write, written: Written
) -> acceptance.CreatedOrder:
    """Write one prepared order through the process's intake (started on first use, with
    `write` and `written`: the order service's, passed in so this module needs none)."""
    intake = app.component(Intake, lambda: Intake(app, write, written))
    return intake.submit(prepared)
