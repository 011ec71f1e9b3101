"""A background thread that publishes the outbox: woken after each commit that wrote to
it, and on a timer for anything left behind."""

from __future__ import annotations

import logging
import threading

import dramatiq

from engine.bootstrap import Inkwell
from engine.services import outbox

log = logging.getLogger("inkwell.relay")
BATCH = 500


def publisher(broker: dramatiq.Broker) -> outbox.Publish:
    def publish(envelope: outbox.Envelope) -> None:
        broker.enqueue(
            dramatiq.Message(
                queue_name=envelope.queue_name,
                actor_name=envelope.actor_name,
                args=(),
                kwargs=envelope.args,
                options={},
                message_id=envelope.message_id,
            )
        )

    return publish


def relay_all(app: Inkwell, publish: outbox.Publish) -> int:
    """Publish every due row, in batches; returns how many."""
    total = 0
    while True:
        sent = outbox.relay_batch(app.session_factory, publish, app.clock(), limit=BATCH)
        total += sent
        if sent < BATCH:
            return total


class Relay:
    def __init__(self, app: Inkwell, publish: outbox.Publish, interval_s: float) -> None:
        self.app = app
        self.publish = publish
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> Relay:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                relay_all(self.app, self.publish)
            except Exception:
                log.exception("outbox relay failed; will try again")
                self._stop.wait(1.0)
