"""The express lane: a tenant with a few jobs waiting is published to the express twin of
the queue (served first by the same workers), while another tenant's burst keeps to the
plain queue; the plain queue being full does not hold the quiet tenant back."""

from __future__ import annotations

import uuid

import pytest

from engine.bootstrap import Inkwell
from engine.domain import queues
from engine.services import outbox


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write_jobs(app: Inkwell, tenant_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """`count` due check_addresses jobs of `tenant_id` in the outbox; their order ids."""
    order_ids = [uuid.uuid4() for _ in range(count)]
    with app.uow() as uow:
        for order_id in order_ids:
            outbox.enqueue(
                uow.session,
                "check_addresses",
                tenant_id=tenant_id,
                order_id=order_id,
                now=app.clock(),
            )
        uow.commit()
    return order_ids


def relay(app: Inkwell, lanes: outbox.Lanes | None, room: dict[str, int]) -> list[outbox.Envelope]:
    sent: list[outbox.Envelope] = []
    outbox.relay_batch(
        app.session_factory,
        sent.append,
        app.clock(),
        queue_name=queues.Queue.PIPELINE.value,
        room=lambda name: room.get(name, 0),
        lanes=lanes,
    )
    return sent


def test_a_quiet_tenant_goes_express_while_a_burst_keeps_to_the_plain_queue(
    inkwell: Inkwell,
) -> None:
    # Given tenant A's burst of 20 due jobs and tenant B's single job
    a, b = uuid.uuid4(), uuid.uuid4()
    a_orders = write_jobs(inkwell, a, 20)
    [b_order] = write_jobs(inkwell, b, 1)

    # When the relay publishes with room in both queues
    sent = relay(inkwell, outbox.Lanes(quiet_max=8), {"pipeline": 100, "pipeline_express": 100})

    # Then B's job went to the express twin, under the actor's express name
    by_order = {e.args["order_id"]: e for e in sent}
    assert by_order[str(b_order)].queue_name == "pipeline_express"
    assert by_order[str(b_order)].actor_name == "check_addresses_express"
    # And every one of A's went to the plain queue, under the plain name
    assert {by_order[str(o)].queue_name for o in a_orders} == {"pipeline"}
    assert {by_order[str(o)].actor_name for o in a_orders} == {"check_addresses"}
    assert len(sent) == 21


def test_a_full_plain_queue_does_not_hold_back_a_quiet_tenant(inkwell: Inkwell) -> None:
    # Given A's burst and B's single job, and a plain queue with no room left
    a, b = uuid.uuid4(), uuid.uuid4()
    write_jobs(inkwell, a, 20)
    [b_order] = write_jobs(inkwell, b, 1)

    # When the relay runs
    sent = relay(inkwell, outbox.Lanes(quiet_max=8), {"pipeline": 0, "pipeline_express": 4})

    # Then only B's job went out, express; A's wait in the outbox for room
    assert [(e.args["order_id"], e.queue_name) for e in sent] == [
        (str(b_order), "pipeline_express")
    ]
    # And on the next pass, with room again, A's go to the plain queue
    later = relay(inkwell, outbox.Lanes(quiet_max=8), {"pipeline": 100, "pipeline_express": 4})
    assert len(later) == 20 and {e.queue_name for e in later} == {"pipeline"}


def test_without_lanes_everything_keeps_to_the_plain_queue(inkwell: Inkwell) -> None:
    # Given one quiet tenant's job, and the express lane turned off (EXPRESS_LANE_MAX=0)
    write_jobs(inkwell, uuid.uuid4(), 1)
    # Then it is published to the plain queue
    sent = relay(inkwell, None, {"pipeline": 10, "pipeline_express": 10})
    assert [(e.queue_name, e.actor_name) for e in sent] == [("pipeline", "check_addresses")]


def test_a_lane_that_published_much_lately_is_busy_even_with_little_waiting() -> None:
    # Given a lane whose burst's jobs were published as fast as they were written
    clock = Clock()
    lanes = outbox.Lanes(quiet_max=8, window_s=5.0, clock=clock)
    lane: outbox.Lane = (uuid.uuid4(), "render_order")
    assert lanes.is_quiet(lane, waiting=1)
    for _ in range(8):
        lanes.published(lane)

    # Then it is busy while those eight are recent, even with one more waiting
    assert not lanes.is_quiet(lane, waiting=1)
    assert lanes.is_quiet(lane, waiting=0)
    # And quiet again once they are older than the window
    clock.now += 5.1
    assert lanes.is_quiet(lane, waiting=1)
    # And a lane with more waiting than the limit is busy whatever it published
    assert not lanes.is_quiet((uuid.uuid4(), "render_order"), waiting=9)


@pytest.mark.parametrize("actor", sorted(queues.OF_ACTOR))
def test_every_actor_has_an_express_twin_that_runs_first(actor: str) -> None:
    import workers.actors  # noqa: F401  (declares them on the broker)
    from workers.broker import broker

    plain = broker.get_actor(actor)
    twin = broker.get_actor(queues.express(actor))
    assert twin.queue_name == queues.express(plain.queue_name)
    assert twin.priority < plain.priority  # dramatiq runs the lower number first
    assert twin.fn is plain.fn
    assert {plain.queue_name, twin.queue_name} <= broker.get_declared_queues()
