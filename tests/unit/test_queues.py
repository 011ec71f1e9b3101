"""Queue names are said once: the outbox, the broker and the actors agree."""

from __future__ import annotations


def test_every_actor_listens_on_the_queue_the_outbox_routes_it_to() -> None:
    # Given the actors as dramatiq declares them
    import workers.actors  # noqa: F401  (declares them on the broker)

    # Then each listens where queues.OF_ACTOR says, and the broker declares every queue
    from engine.domain import queues
    from workers.broker import broker

    for name, queue in queues.OF_ACTOR.items():
        assert broker.get_actor(name).queue_name == queue.value
    assert {q.value for q in queues.Queue} <= broker.get_declared_queues()
