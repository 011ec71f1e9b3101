"""Embedded mode: the API process also runs the workers (in-memory broker, threads) and
the scheduler, on one SQLite file. For a first look and the demo, not for production."""

from __future__ import annotations

import logging

import dramatiq

from engine.bootstrap import Inkwell
from workers import runtime
from workers.broker import broker
from workers.relay import publisher, room
from workers.scheduler import SchedulerThread

log = logging.getLogger("inkwell.embedded")


class Embedded:
    def __init__(self, app: Inkwell) -> None:
        import workers.actors  # noqa: F401  (declares the actors on the broker)

        self.app = app
        self.worker = dramatiq.Worker(broker, worker_threads=app.settings.worker_threads)
        self.scheduler = SchedulerThread(
            app, publisher(broker), room(broker, app.settings.queue_backlog_max)
        )

    def start(self) -> Embedded:
        log.warning(
            "embedded mode: in-memory broker and worker threads in this process; queued "
            "jobs do not survive a restart (the scheduler re-enqueues unfinished work from "
            "the database). Set DATABASE_URL and REDIS_URL for production."
        )
        runtime.install(self.app, relay_interval_s=self.app.settings.scheduler_interval_s)
        self.worker.start()
        self.scheduler.start()
        return self

    def stop(self) -> None:
        self.scheduler.stop()
        self.worker.stop()
        runtime.reset()
