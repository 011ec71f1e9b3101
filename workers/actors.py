"""The pipeline's actors: each takes ids, loads nothing itself, calls one engine service.

`dramatiq workers.broker workers.actors --queues pipeline …` runs them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage, TimeLimitExceeded

import workers.broker  # noqa: F401  (the broker must exist before any actor is declared)
from engine.bootstrap import Inkwell
from engine.domain import queues
from engine.services import delivery, fanout, jobs, pipeline
from engine.settings import get_settings
from workers.runtime import inkwell

SECOND_MS = 1000
#: How far behind the express twins the plain actors run (a priority; lower runs first).
EXPRESS_AHEAD = 10


def _declare(
    name: str,
    service: Callable[[Inkwell, uuid.UUID], object],
    *,
    id_arg: str,
    max_retries: int,
    time_limit_ms: int,
) -> dramatiq.Actor[..., None]:
    """The actor `name` on its queue, and its express twin (`<name>_express` on
    `<queue>_express`, run first among the messages a worker holds): one function, one
    job record under `name`."""
    queue = queues.OF_ACTOR[name].value

    def run(**kwargs: Any) -> None:
        app = inkwell()
        message = CurrentMessage.get_current_message()
        ctx = jobs.JobContext(
            actor_name=name,
            queue_name=queue,
            message_id=message.message_id if message else "direct",
            attempt=(message.options.get("retries", 0) if message else 0) + 1,
            max_attempts=max_retries + 1,
            args=dict(kwargs),
        )
        target = uuid.UUID(str(kwargs[id_arg]))
        jobs.run(app, ctx, lambda: service(app, target), interrupts=(TimeLimitExceeded,))

    run.__name__ = name
    options: dict[str, Any] = {
        "max_retries": max_retries,
        "min_backoff": SECOND_MS,
        "max_backoff": 30 * SECOND_MS,
        "throws": (jobs.JobFailed,),
        "time_limit": time_limit_ms,
    }
    # Dramatiq runs the lowest priority number first among the messages a worker holds.
    dramatiq.actor(
        actor_name=queues.express(name), queue_name=queues.express(queue), priority=0, **options
    )(run)
    return dramatiq.actor(actor_name=name, queue_name=queue, priority=EXPRESS_AHEAD, **options)(run)


check_addresses = _declare(
    "check_addresses",
    pipeline.check_addresses,
    id_arg="order_id",
    max_retries=5,
    time_limit_ms=60 * SECOND_MS,
)
render_order = _declare(
    "render_order",
    pipeline.render_order,
    id_arg="order_id",
    max_retries=3,
    time_limit_ms=300 * SECOND_MS,
)
capture_order = _declare(
    "capture_order",
    pipeline.capture_order,
    id_arg="order_id",
    max_retries=5,
    time_limit_ms=60 * SECOND_MS,
)
fan_out_event = _declare(
    "fan_out_event",
    fanout.fan_out,
    id_arg="event_id",
    max_retries=5,
    time_limit_ms=60 * SECOND_MS,
)
deliver_webhook = _declare(
    "deliver_webhook",
    delivery.deliver,
    id_arg="delivery_id",
    max_retries=3,
    # Derived from the webhook timeout; the delivery lease outlives it (engine/settings.py).
    # Read at import like the broker's URL: dramatiq fixes an actor's limit when declared.
    time_limit_ms=int(get_settings().webhook_time_limit_s * SECOND_MS),
)
