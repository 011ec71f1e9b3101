"""A background thread that publishes the outbox: woken after each commit that wrote to
it, and on a timer for anything left behind."""

from __future__ import annotations

import logging
import threading

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from engine.bootstrap import Inkwell
from engine.domain import queues
from engine.services import outbox

log = logging.getLogger("inkwell.relay")
BATCH = 500
#: How soon a relay looks again while a queue is full: its workers free room continuously,
#: and a job that writes nothing (a delivered webhook) wakes no relay.
FULL_POLL_S = 0.05


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


def lanes_for(app: Inkwell) -> outbox.Lanes | None:
    """This process's view of which tenants' lanes are quiet (None: no express queues)."""
    quiet_max = app.settings.express_lane_max
    return outbox.Lanes(quiet_max) if quiet_max > 0 else None


def relay_all(
    app: Inkwell, publish: outbox.Publish, room: outbox.Room, lanes: outbox.Lanes | None = None
) -> int:
    """Publish every due row each queue has room for, in batches; returns how many."""
    total = 0
    for queue_name in (q.value for q in queues.Queue):
        while True:
            sent = outbox.relay_batch(
                app.session_factory,
                publish,
                app.clock(),
                queue_name=queue_name,
                room=room,
                limit=BATCH,
                lanes=lanes,
            )
            total += sent
            if sent < BATCH:
                break
    return total


def full(room: outbox.Room) -> bool:
    """Whether some queue has no room left (so due rows may be waiting for it)."""
    return any(room(name) <= 0 for name in queues.BROKER_QUEUES)


def room(broker: dramatiq.Broker, backlog_max: int) -> outbox.Room:
    """How many more messages each queue of `broker` may take: `backlog_max` less those
    waiting in it for a worker. Messages a worker has taken (prefetched or running) do not
    count: each worker's prefetch is bounded already, and the unacked messages of a killed
    worker, which the broker hands out again only after its heartbeat times out, must not
    stop the relay meanwhile. Delayed retries wait for their time, not for a worker."""

    def waiting(queue_name: str) -> int:
        if isinstance(broker, RedisBroker):
            # The queue's list holds the ids not yet fetched (dispatch.lua's queue_full_name).
            return int(broker.client.llen(f"{broker.namespace}:{queue_name}"))
        if isinstance(broker, StubBroker):
            return broker.queues[queue_name].qsize() if queue_name in broker.queues else 0
        if isinstance(broker, RabbitmqBroker):
            ready, _delayed, _dead = broker.get_queue_message_counts(queue_name)
            return ready
        return 0

    def free(queue_name: str) -> int:
        return max(0, backlog_max - waiting(queue_name))

    return free


class Relay:
    def __init__(
        self, app: Inkwell, publish: outbox.Publish, room: outbox.Room, interval_s: float
    ) -> None:
        self.app = app
        self.publish = publish
        self.room = room
        self.interval_s = interval_s
        self.lanes = lanes_for(app)
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
        wait_s = self.interval_s
        while not self._stop.is_set():
            self._wake.wait(wait_s)
            self._wake.clear()
            try:
                relay_all(self.app, self.publish, self.room, self.lanes)
                wait_s = FULL_POLL_S if full(self.room) else self.interval_s
            except Exception:
                log.exception("outbox relay failed; will try again")
                wait_s = self.interval_s
                self._stop.wait(1.0)
