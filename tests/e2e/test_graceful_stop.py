"""SIGTERM lets in-flight jobs finish: an operator can stop a worker at any time."""

from __future__ import annotations

import signal
from pathlib import Path

import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from tests.conftest import MakeTenant, order_body
from tests.e2e.harness import Deployment, Receiver, wait_until


def test_sigterm_finishes_the_webhook_attempt_in_flight(
    pg_url: str, tmp_path: Path, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a receiver that takes 2 s to answer, and a deployment sending to it
    receiver = Receiver(respond=lambda n: (200, {}, 2.0)).start()
    d = Deployment(pg_url, tmp_path, WEBHOOK_TIMEOUT_S="5")
    t = make_tenant()
    try:
        d.start_all()
        with d.client(t.key) as c:
            assert (
                c.post(
                    "/webhooks", json={"url": receiver.url, "events": ["order.confirmed"]}
                ).status_code
                == 201
            )
            assert c.post("/orders", json=order_body(1)).status_code == 201

        # When the worker is told to stop while the attempt is in flight
        wait_until(lambda: len(receiver.received) == 1, what="attempt started")
        d.kill("worker", signal.SIGTERM)
        exit_code = d.procs["worker"].returncode
    finally:
        d.stop()
        receiver.stop()

    # Then it finished that attempt before exiting: delivered once, recorded, exit 0
    assert exit_code == 0, (exit_code, d.log("worker")[-3000:])
    assert len(receiver.received) == 1
    with inkwell.uow() as uow:
        delivery = uow.session.scalars(sa.select(tables.WebhookDelivery)).one()
        assert delivery.status == "succeeded"
        assert delivery.attempts == 1
        outcome = uow.session.scalar(
            sa.select(tables.JobRun.outcome).where(tables.JobRun.actor_name == "deliver_webhook")
        )
        assert outcome == "succeeded"
