"""One time for every process: the database's.

Timestamps written by one process are compared by another (a stage's deadline by the
sweeper, a delivery's `next_attempt_at` by a worker, a lease by both). A machine whose
clock runs fast or slow would then see work as stalled that is not, or due that is not.
So each process reads the time as its own clock corrected by its offset from PostgreSQL's
`clock_timestamp()`, measured on first use and again every `refresh_s` (one cheap query a
minute). If the database cannot be asked, the last offset stands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

log = logging.getLogger("inkwell.clock")


def utcnow() -> datetime:
    return datetime.now(UTC)


class DatabaseClock:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        local: Callable[[], datetime] = utcnow,
        refresh_s: float = 60.0,
    ) -> None:
        self.engine = engine
        #: This machine's clock; replaceable (a test skews it as a fast machine would be).
        self.local = local
        self.refresh_s = refresh_s
        self.offset = timedelta(0)
        self._measured_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        if self._measured_at is None or time.monotonic() - self._measured_at >= self.refresh_s:
            self._measure()
        return self.local() + self.offset

    def _measure(self) -> None:
        with self._lock:
            if self._measured_at is not None and (
                time.monotonic() - self._measured_at < self.refresh_s
            ):
                return  # another thread just did
            self._measured_at = time.monotonic()
            try:
                before = self.local()
                with self.engine.connect() as conn:
                    database = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
                after = self.local()
            except Exception:
                log.warning("could not read the database's clock; keeping offset %s", self.offset)
                return
            offset = database - (before + (after - before) / 2)
            if abs(offset - self.offset) > timedelta(seconds=1):
                log.info("clock offset from the database: %.3f s", offset.total_seconds())
            self.offset = offset
