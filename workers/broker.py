"""The Dramatiq broker, configured once; import this module before any actor module.

`REDIS_URL` selects Redis (an `amqp://` URL selects RabbitMQ); no URL means the embedded
in-memory broker, which lives only as long as its process (the database's outbox and the
sweeper still bring every unfinished job back). Clients connect lazily: importing this
module opens no connection.
"""

from __future__ import annotations

import signal
import time
from types import FrameType

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Retries

from engine.adapters import log_redaction
from engine.domain import queues
from engine.settings import Settings, get_settings


class ExpressTwins(dramatiq.Middleware):
    """A worker told to consume some queues (`--queues pipeline`) consumes their express
    twins too: a deployment that names only the plain queue must not strand the quiet
    tenants' jobs (engine/domain/queues.py)."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        named = worker.consumer_whitelist
        if named:
            worker.consumer_whitelist = set(named) | {queues.express(q) for q in named}


class OneSigterm(dramatiq.Middleware):
    """Keep a stop graceful when SIGTERM arrives twice.

    Process managers (Heroku, systemd's default) signal the whole process group, and
    dramatiq's main process forwards the same SIGTERM to its worker processes; dramatiq
    reads a second SIGTERM as "kill now", cutting in-flight jobs short. A repeat within
    `WINDOW_S` of the first is the same stop request, so it is ignored; a later one still
    kills.
    """

    WINDOW_S = 3.0

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        original = signal.getsignal(signal.SIGTERM)
        if not callable(original):
            return
        first: list[float] = []

        def handler(signum: int, frame: FrameType | None) -> None:
            now = time.monotonic()
            if first and now - first[0] < self.WINDOW_S:
                return
            first[:] = [now]
            original(signum, frame)

        signal.signal(signal.SIGTERM, handler)


class RedactLogs(dramatiq.Middleware):
    """Worker processes log errors without the rows they quote (engine.adapters.log_redaction);
    dramatiq has set up the process's handlers by the time it boots."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        log_redaction.install()


def _redis_broker(settings: Settings) -> dramatiq.Broker:
    from dramatiq.brokers.redis import RedisBroker

    class Redis(RedisBroker):
        """Redis, with the express queues looked at more often when idle: they are empty
        most of the time, and a quiet tenant's job waits there for the next look."""

        def consume(
            self, queue_name: str, prefetch: int = 1, timeout: int = 5000
        ) -> dramatiq.Consumer:
            if queues.base(queue_name) != queue_name:
                timeout = min(timeout, settings.express_poll_ms)
            return super().consume(queue_name, prefetch, timeout)

    return Redis(url=settings.redis_url, namespace=settings.redis_namespace)


def build_broker(settings: Settings) -> dramatiq.Broker:
    url = settings.redis_url
    broker: dramatiq.Broker
    if url and url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    elif url:
        broker = _redis_broker(settings)
    else:
        broker = StubBroker()
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            # Per-actor limits are set on each actor; this is only the fallback.
            middleware.max_retries = 3
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(OneSigterm())
    broker.add_middleware(ExpressTwins())
    broker.add_middleware(RedactLogs())
    for queue_name in queues.BROKER_QUEUES:
        broker.declare_queue(queue_name)
    return broker


broker = build_broker(get_settings())
dramatiq.set_broker(broker)
