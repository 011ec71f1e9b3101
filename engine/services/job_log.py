"""The per-process writer of job records (`JobLog`) and the one statement every job
record is written with.

A run is written once when it goes well: finished, in the same transaction as its
stage's last commit (`jobs.run` adds it through `unit_of_work.BEFORE_COMMIT`). A run still
going after half a second is written as `running` by this writer (batches every 50 ms),
so one killed mid-way is left `running` (unless it died within that half second, when
only its redelivered message tells). The writer's writes skip waiting for the disk on
Postgres: they are a log.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from engine.adapters import sql, tables
from engine.services.context import Context

log = logging.getLogger("inkwell.jobs")


def _fast(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SET LOCAL synchronous_commit = off"))


_COLUMNS = (
    "actor_name",
    "queue_name",
    "message_id",
    "order_id",
    "args",
    "attempt",
    "outcome",
    "error",
    "traceback",
    "started_at",
    "finished_at",
)


class JobLog:
    """Buffers job-run rows and upserts them in batches from a background thread.

    A run's full row stays in memory until it has finished, so every write is a complete
    upsert; a write that fails puts its rows back for the next flush.
    """

    def __init__(self, app: Context, interval_s: float = 0.05, start_after_s: float = 0.5) -> None:
        self.app = app
        self.interval_s = interval_s
        #: A run is written as running only once it has run this long: most finish sooner,
        #: and their stage's commit writes them once, finished.
        self.start_after_s = start_after_s
        #: Every run not yet finished-and-written, with all its values.
        self._runs: dict[uuid.UUID, dict[str, object]] = {}
        #: Runs changed since the last write.
        self._dirty: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-log", daemon=True)
        self._thread.start()

    def record(self, run_id: uuid.UUID, **values: object) -> None:
        with self._lock:
            self._runs.setdefault(run_id, {}).update(values)
            self._dirty.add(run_id)

    def forget(self, run_id: uuid.UUID) -> None:
        """Drop a run whose finish its own transaction wrote: it needs no write of ours (a
        start not yet written is never written; the finished row holds it)."""
        with self._lock:
            self._runs.pop(run_id, None)
            self._dirty.discard(run_id)

    def row(self, run_id: uuid.UUID, **values: object) -> dict[str, object]:
        """The run's full row with `values` applied (for a write of the caller's own)."""
        with self._lock:
            run = {**self._runs.get(run_id, {}), **values}
        return {"id": run_id, **{c: run.get(c) for c in _COLUMNS}}

    def flush(self, *, young_too: bool = True) -> None:
        """Write every changed run; with `young_too=False`, leave out runs still running
        that started less than `start_after_s` ago (they stay queued)."""
        with self._flush_lock:
            with self._lock:
                dirty, self._dirty = self._dirty, set()
                if not young_too:
                    cutoff = self.app.clock() - timedelta(seconds=self.start_after_s)
                    young = {r for r in dirty if _young(self._runs[r], cutoff)}
                    dirty -= young
                    self._dirty |= young
                rows = [
                    {"id": run_id, **{c: self._runs[run_id].get(c) for c in _COLUMNS}}
                    for run_id in dirty
                ]
            if not rows:
                return
            try:
                with self.app.engine.begin() as conn:
                    _fast(conn)
                    conn.execute(upsert(), rows)
            except Exception:
                with self._lock:
                    self._dirty |= dirty
                raise
            with self._lock:
                for run_id in dirty:
                    run = self._runs.get(run_id)
                    if (
                        run is not None
                        and run.get("outcome") != "running"
                        and run_id not in self._dirty
                    ):
                        del self._runs[run_id]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.flush(young_too=False)
            except Exception:
                log.exception("could not write job records; will try again")


def _young(run: dict[str, object], cutoff: datetime) -> bool:
    started = run.get("started_at")
    return run.get("outcome") == "running" and isinstance(started, datetime) and started > cutoff


#: Columns a job record's upsert replaces (the rest are fixed when the run starts).
_FINISH = ("outcome", "error", "traceback", "finished_at")


@functools.cache
def upsert() -> sa.TextClause:
    """Built once (it runs with every commit of every job); the same text on both
    dialects. A late batch saying "running" never undoes a finish written with the
    stage's own commit (run()'s before-commit hook)."""
    table = tables.table_of(tables.JobRun)
    replaced = ", ".join(f"{c} = excluded.{c}" for c in _FINISH)
    return sql.insert_text(
        table,
        ("id", *_COLUMNS),
        f"ON CONFLICT (id) DO UPDATE SET {replaced} "
        f"WHERE {table.name}.outcome = 'running' OR excluded.outcome <> 'running'",
    )


def job_log(app: Context) -> JobLog:
    """The process's job-record writer for `app`, started on first use."""
    return app.component(JobLog, lambda: JobLog(app))
