"""The broker queues and which one each pipeline actor listens on (DESIGN.md section 3),
said once: the outbox routes by it, the broker declares from it, the actors take theirs
from it."""

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
