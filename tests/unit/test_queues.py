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


def test_the_broker_declares_every_express_twin() -> None:
    from engine.domain import queues
    from workers.broker import broker

    assert set(queues.BROKER_QUEUES) <= broker.get_declared_queues()
    assert {queues.base(q) for q in queues.BROKER_QUEUES} == {q.value for q in queues.Queue}


def test_a_worker_named_to_plain_queues_consumes_their_express_twins() -> None:
    # Given a worker started with `--queues pipeline render`
    from workers.broker import ExpressTwins, broker

    class Worker:
        consumer_whitelist: set[str] | None = {"pipeline", "render"}

    worker = Worker()
    # When it boots
    ExpressTwins().before_worker_boot(broker, worker)  # type: ignore[arg-type]
    # Then it also consumes the two twins, and nothing else
    assert worker.consumer_whitelist == {
        "pipeline",
        "render",
        "pipeline_express",
        "render_express",
    }
    # And a worker told nothing (every queue) stays told nothing
    everything = Worker()
    everything.consumer_whitelist = None
    ExpressTwins().before_worker_boot(broker, everything)  # type: ignore[arg-type]
    assert everything.consumer_whitelist is None


def test_an_idle_express_queue_is_looked_at_sooner_than_a_plain_one() -> None:
    # Given the Redis broker as the workers build it (no connection is made to build it)
    from engine.settings import Settings
    from workers.broker import build_broker

    settings = Settings(redis_url="redis://127.0.0.1:6379/0", express_poll_ms=20)
    broker = build_broker(settings)
    # Then an express queue's consumer waits at most EXPRESS_POLL_MS when idle, a plain
    # one the worker's own timeout
    assert broker.consume("pipeline_express", 1, 100).timeout == 20  # type: ignore[attr-defined]
    assert broker.consume("pipeline", 1, 100).timeout == 100  # type: ignore[attr-defined]
