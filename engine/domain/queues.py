"""The broker queues and which one each pipeline actor listens on (DESIGN.md section 3),
said once: the outbox routes by it, the broker declares from it, the actors take theirs
from it.

Each queue has an express twin, `<queue>_express`, served by the same workers at a higher
priority, under the same actors' express names (`<actor>_express`). The relay sends a
tenant's work there while that tenant has only a few jobs of a kind waiting, so one
tenant's burst never stands in front of another's single order (engine/services/outbox.py).
"""

from __future__ import annotations

import enum


class Queue(enum.StrEnum):
    #: Address checks and captures: short database work.
    PIPELINE = "pipeline"
    #: PDF rendering: CPU-bound, scaled on its own.
    RENDER = "render"
    #: Fan-out and webhook delivery: waits on partners' servers.
    WEBHOOKS = "webhooks"


#: Actor name -> its queue.
OF_ACTOR: dict[str, Queue] = {
    "check_addresses": Queue.PIPELINE,
    "render_order": Queue.RENDER,
    "capture_order": Queue.PIPELINE,
    "fan_out_event": Queue.WEBHOOKS,
    "deliver_webhook": Queue.WEBHOOKS,
}


EXPRESS = "_express"


def express(name: str) -> str:
    """The express twin of a queue or an actor name."""
    return f"{name}{EXPRESS}"


def base(name: str) -> str:
    """The queue or actor an express name stands for (a plain name is its own)."""
    return name.removesuffix(EXPRESS)


#: Every queue the broker declares and the workers consume: each queue and its twin.
BROKER_QUEUES: tuple[str, ...] = tuple(n for q in Queue for n in (q.value, express(q.value)))
