"""An `amqp://` URL in REDIS_URL runs the same pipeline on RabbitMQ."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import MakeTenant, order_body
from tests.e2e.harness import Deployment, Receiver, wait_until


def test_the_pipeline_runs_on_rabbitmq(
    pg_url: str, tmp_path: Path, make_tenant: MakeTenant
) -> None:
    # Given the processes started with a RabbitMQ URL instead of Redis
    receiver = Receiver().start()
    d = Deployment(pg_url, tmp_path, REDIS_URL="amqp://guest:guest@127.0.0.1:5672/%2F")
    t = make_tenant()
    try:
        d.start_all()
        with d.client(t.key) as c:
            assert c.post("/webhooks", json={"url": receiver.url}).status_code == 201

            # When an order is placed
            order_id = c.post("/orders", json=order_body(1)).json()["order"]["id"]

            # Then it is confirmed and the partner is told, as on Redis
            wait_until(
                lambda: c.get(f"/orders/{order_id}").json()["order"]["status"] == "processing",
                what="order processing on RabbitMQ",
            )
            wait_until(lambda: len(receiver.received) == 3, what="webhooks via RabbitMQ")
    finally:
        d.stop()
        receiver.stop()
    # created and confirmed at intake, in_production at capture (reference 000's moments)
    assert sorted(r.json["event"] for r in receiver.received) == [
        "order.confirmed",
        "order.created",
        "order.in_production",
    ]
    assert {r.json["data"]["order_id"] for r in receiver.received} == {order_id}
