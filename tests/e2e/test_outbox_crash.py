"""The transactional outbox against real processes (issue 3 items 2-3): a process killed
between commit and publish loses no order, and a message delivered twice through the real
Redis broker moves money once, records one event and sends one delivery per endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import redis
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import orders, outbox, wallet, webhooks
from tests.conftest import MakeTenant, order_body
from tests.e2e.harness import ROOT, Deployment, Receiver, wait_until
from tests.factories import principal

#: Creates an order in a process that dies right after the commit, before any publish.
CRASH_AFTER_COMMIT = """
import json, os, sys
from engine.bootstrap import bootstrap
from engine.services import orders, principals

app = bootstrap()
principal = principals.authenticate(app, "Bearer " + sys.argv[1])
app.after_commit = lambda: os._exit(9)
orders.create_order(app, principal, json.loads(sys.argv[2]))
print("still alive after the commit")
"""


def orders_of(app: Inkwell, tenant_id: uuid.UUID) -> list[tables.Order]:
    with app.uow() as uow:
        return list(
            uow.session.scalars(sa.select(tables.Order).where(tables.Order.tenant_id == tenant_id))
        )


def status_of(app: Inkwell, order_id: uuid.UUID) -> str:
    with app.uow() as uow:
        order = uow.session.get(tables.Order, order_id)
        assert order is not None
        return order.status


def outbox_of(app: Inkwell, order_id: uuid.UUID) -> list[tables.OutboxMessage]:
    o = tables.OutboxMessage
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(o)
                .where(o.args["order_id"].as_string() == str(order_id))
                .order_by(o.created_at)
            )
        )


def finished_runs(app: Inkwell, message_ids: list[str]) -> list[tables.JobRun]:
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(tables.JobRun).where(
                    tables.JobRun.message_id.in_(message_ids),
                    tables.JobRun.outcome != "running",
                )
            )
        )


def test_process_killed_between_commit_and_publish_loses_no_order(
    pg_url: str, tmp_path: Path, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a tenant, and a deployment's environment (nothing running yet)
    t = make_tenant(credits_cents=10_000)
    d = Deployment(pg_url, tmp_path)

    # When a process creates an order and is killed right after its commit
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_COMMIT, t.key, json.dumps(order_body(1))],
        cwd=ROOT,
        env=d.env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then it died with our exit code, after the commit and before anything else
    assert crashed.returncode == 9, crashed.stderr
    assert "still alive" not in crashed.stdout
    # And the order is committed, pending, with its first job unpublished in the outbox
    [order] = orders_of(inkwell, t.id)
    assert (order.status, order.stage) == ("pending", "received")
    [left_behind] = outbox_of(inkwell, order.id)
    assert left_behind.actor_name == "check_addresses"
    assert left_behind.published_at is None
    # And nothing reached the broker
    r = redis.Redis.from_url(d.env["REDIS_URL"])
    try:
        assert r.keys(f"{d.env['REDIS_NAMESPACE']}*") == []
    finally:
        r.close()

    # When the deployment's worker and scheduler start
    try:
        d.start_worker()
        d.start_scheduler()
        d.wait_worker_ready()

        # Then the scheduler relays the left-behind row and the order reaches processing
        wait_until(
            lambda: status_of(inkwell, order.id) == "processing",
            timeout_s=30,
            what="order processing",
        )
        wait_until(
            lambda: all(row.published_at for row in outbox_of(inkwell, order.id)),
            timeout_s=10,
            what="outbox published",
        )
    finally:
        d.stop()

    rows = outbox_of(inkwell, order.id)
    assert rows[0].id == left_behind.id
    assert {row.actor_name for row in rows} == {"check_addresses", "render_order", "capture_order"}
    assert all(row.published_at is not None for row in rows)
    # The check ran from the very row the crashed process left behind
    [check] = finished_runs(inkwell, [str(left_behind.id)])
    assert (check.actor_name, check.outcome) == ("check_addresses", "succeeded")
    with inkwell.uow() as uow:
        kinds = uow.session.scalars(
            sa.select(tables.LedgerEntry.kind).where(tables.LedgerEntry.order_id == order.id)
        ).all()
        assert sorted(kinds) == ["capture", "hold"]
        assert all(c.ok for c in wallet.check_ledger(uow.session))


def test_the_same_messages_delivered_twice_move_money_once(
    pg_url: str, tmp_path: Path, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a tenant (cancel window 0) with two webhook endpoints, and an order whose first
    # job sits in the outbox twice (the same actor and arguments)
    receivers = [Receiver().start(), Receiver().start()]
    t = make_tenant(credits_cents=10_000, cancel_window_s=0)
    who = principal(inkwell, t)
    endpoint_ids = {
        webhooks.create_endpoint(inkwell, who, {"url": r.url, "events": ["order.in_production"]})[
            0
        ].id
        for r in receivers
    }
    order_id = orders.create_order(inkwell, who, order_body(1)).order.id
    with inkwell.uow() as uow:
        outbox.enqueue(
            uow.session,
            "check_addresses",
            tenant_id=t.id,
            order_id=order_id,
            now=inkwell.clock(),
        )
        uow.commit()
    first_checks = [str(row.id) for row in outbox_of(inkwell, order_id)]
    assert len(first_checks) == 2

    d = Deployment(pg_url, tmp_path)
    try:
        # When the deployment runs both copies through Redis
        d.start_worker()
        d.start_scheduler()
        d.wait_worker_ready()
        wait_until(lambda: status_of(inkwell, order_id) == "processing", what="processing")
        wait_until(
            lambda: all(len(r.received) >= 1 for r in receivers), what="both endpoints called"
        )
        wait_until(lambda: len(finished_runs(inkwell, first_checks)) == 2, what="both checks ran")

        # And then every stage's message is delivered once more
        with inkwell.uow() as uow:
            s = uow.session
            [event] = s.scalars(
                sa.select(tables.Event).where(
                    tables.Event.order_id == order_id, tables.Event.type == "order.in_production"
                )
            ).all()
            delivery_ids = s.scalars(
                sa.select(tables.WebhookDelivery.id).where(
                    tables.WebhookDelivery.event_id == event.id
                )
            ).all()
            now = inkwell.clock()
            again = [
                outbox.enqueue(s, actor, tenant_id=t.id, order_id=order_id, now=now)
                for actor in ("check_addresses", "render_order", "capture_order")
            ]
            again.append(
                outbox.enqueue(s, "fan_out_event", tenant_id=t.id, event_id=event.id, now=now)
            )
            again += [
                outbox.enqueue(
                    s, "deliver_webhook", tenant_id=t.id, delivery_id=delivery_id, now=now
                )
                for delivery_id in delivery_ids
            ]
            uow.commit()
        again_ids = [str(i) for i in again]
        wait_until(
            lambda: len(finished_runs(inkwell, again_ids)) == len(again_ids),
            what="every duplicate ran",
        )
    finally:
        d.stop()
        for r in receivers:
            r.stop()

    # Then every duplicate run ended quietly (nothing failed or retried)
    runs = finished_runs(inkwell, first_checks + again_ids)
    assert {run.outcome for run in runs} == {"succeeded"}, [(r.actor_name, r.error) for r in runs]
    with inkwell.uow() as uow:
        s = uow.session
        # And there is exactly one capture and one order.in_production
        kinds = s.scalars(
            sa.select(tables.LedgerEntry.kind).where(tables.LedgerEntry.order_id == order_id)
        ).all()
        assert sorted(kinds) == ["capture", "hold"]
        confirmed = s.scalars(
            sa.select(tables.Event.id).where(
                tables.Event.order_id == order_id, tables.Event.type == "order.in_production"
            )
        ).all()
        assert len(confirmed) == 1
        # And one delivery per endpoint, each sent once
        sent = s.execute(
            sa.select(tables.WebhookDelivery.endpoint_id, tables.WebhookDelivery.status).where(
                tables.WebhookDelivery.event_id == confirmed[0]
            )
        ).all()
        assert sorted(sent) == sorted((e, "succeeded") for e in endpoint_ids)
        assert all(c.ok for c in wallet.check_ledger(s))
    assert [len(r.received) for r in receivers] == [1, 1]
    assert all(r.received[0].json["event"] == "order.in_production" for r in receivers)
