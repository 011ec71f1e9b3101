"""The Dramatiq broker, configured once; import this module before any actor module.

`REDIS_URL` selects Redis (an `amqp://` URL selects RabbitMQ); no URL means the embedded
in-memory broker, which lives only as long as its process (the database's outbox and the
sweeper still bring every unfinished job back). Clients connect lazily: importing this
module opens no connection.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Retries

from engine.settings import Settings, get_settings

QUEUES = ("pipeline", "render", "webhooks")


def build_broker(settings: Settings) -> dramatiq.Broker:
    url = settings.redis_url
    broker: dramatiq.Broker
    if url and url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    elif url:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url, namespace=settings.redis_namespace)
    else:
        broker = StubBroker()
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            # Per-actor limits are set on each actor; this is only the fallback.
            middleware.max_retries = 3
    broker.add_middleware(CurrentMessage())
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


broker = build_broker(get_settings())
dramatiq.set_broker(broker)
