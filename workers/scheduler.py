"""The scheduler process: relays the outbox on a short timer and sweeps stalled work.

`inkwell scheduler` runs it; one is enough, more are safe (rows are claimed with
SKIP LOCKED). SIGTERM finishes the current tick and exits.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta

from engine.adapters import log_redaction
from engine.bootstrap import Inkwell, bootstrap
from engine.services import outbox, sweeper
from engine.settings import get_settings
from workers.relay import lanes_for, relay_all

log = logging.getLogger("inkwell.scheduler")
#: Published outbox rows are kept this long for inspection, then deleted.
OUTBOX_RETENTION = timedelta(days=1)


class Scheduler:
    def __init__(self, app: Inkwell, publish: outbox.Publish, room: outbox.Room) -> None:
        self.app = app
        self.publish = publish
        self.room = room
        self.lanes = lanes_for(app)
        self.interval_s = app.settings.scheduler_interval_s
        self.sweep_every_s = max(1.0, app.settings.stage_deadline_s / 4)
        self._last_sweep = 0.0

    def tick(self) -> None:
        relay_all(self.app, self.publish, self.room, self.lanes)
        if time.monotonic() - self._last_sweep >= self.sweep_every_s:
            self._last_sweep = time.monotonic()
            report = sweeper.sweep(self.app)
            with self.app.uow() as uow:
                outbox.purge_published(uow.session, self.app.clock() - OUTBOX_RETENTION)
                uow.commit()
            if report.total:
                relay_all(self.app, self.publish, self.room, self.lanes)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed; trying again")
            stop.wait(self.interval_s)


class SchedulerThread:
    """The scheduler inside another process (the embedded mode)."""

    def __init__(self, app: Inkwell, publish: outbox.Publish, room: outbox.Room) -> None:
        self.scheduler = Scheduler(app, publish, room)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.scheduler.run, args=(self._stop,), name="scheduler", daemon=True
        )

    def start(self) -> SchedulerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def main() -> int:
    """Entry point of `inkwell scheduler`."""
    from workers.broker import broker
    from workers.relay import publisher, room

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(message)s")
    log_redaction.install()
    app = bootstrap(settings)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: finishing the current tick", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info(
        "scheduler: relay every %.1fs, sweep every %.1fs (stage deadline %ds)",
        settings.scheduler_interval_s,
        max(1.0, settings.stage_deadline_s / 4),
        settings.stage_deadline_s,
    )
    try:
        Scheduler(app, publisher(broker), room(broker, settings.queue_backlog_max)).run(stop)
    finally:
        app.close()
    return 0
