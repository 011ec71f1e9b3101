"""Fairness between tenants: one tenant's burst does not hold back another's single order.

The relay keeps each broker queue's backlog short and serves the outbox round-robin by
tenant, so tenant B's order goes through every stage behind at most one backlog of
tenant A's messages, not behind all of them.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import orders, principals
from tests.conftest import MakeTenant, order_body
from tests.e2e.harness import Deployment, wait_until

BURST = 800


def statuses(app: Inkwell, tenant_id: uuid.UUID) -> dict[str, int]:
    o = tables.Order
    with app.uow() as uow:
        rows = uow.session.execute(
            sa.select(o.status, sa.func.count()).where(o.tenant_id == tenant_id).group_by(o.status)
        ).all()
    return {status: count for status, count in rows}


def test_one_order_of_tenant_b_completes_while_tenant_a_burst_is_still_queued(
    pg_url: str, tmp_path: Path, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given tenant A's burst of one-letter orders, accepted and waiting in the outbox …
    a = make_tenant(credits_cents=10_000_000, name="Burst", cancel_window_s=0)
    b = make_tenant(credits_cents=10_000, name="Single", cancel_window_s=0)
    who_a = principals.authenticate(inkwell, f"Bearer {a.key}")
    who_b = principals.authenticate(inkwell, f"Bearer {b.key}")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: orders.create_order(inkwell, who_a, order_body(1)), range(BURST)))
    # … and then tenant B's single order, the newest of all
    b_order = orders.create_order(inkwell, who_b, order_body(1)).order.id

    d = Deployment(pg_url, tmp_path, QUEUE_BACKLOG_MAX="32")
    try:
        # When the workers start on the whole backlog
        d.start_worker(threads=4)
        d.start_scheduler()
        d.wait_worker_ready()
        started = time.monotonic()
        wait_until(
            lambda: statuses(inkwell, b.id).get("processing") == 1,
            timeout_s=120,
            what="tenant B's order processing",
        )
        b_latency_s = time.monotonic() - started
        a_now = statuses(inkwell, a.id)
    finally:
        d.stop()

    # Then B's order was through while most of A's burst had still to go
    a_waiting = BURST - a_now.get("processing", 0)
    print(f"tenant B's order: {b_latency_s:.1f} s; tenant A then had {a_waiting}/{BURST} to go")
    assert sum(a_now.values()) == BURST
    assert a_waiting >= BURST // 2, (b_latency_s, a_now)
    assert statuses(inkwell, b.id) == {"processing": 1}
    with inkwell.uow() as uow:
        assert uow.session.get(tables.Order, b_order) is not None
