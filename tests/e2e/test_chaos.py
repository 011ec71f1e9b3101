"""Worker processes SIGKILLed at random moments lose no order and charge none twice.

The first fault scenario (the others are tests/e2e/test_faults.py): `make test` runs the
short pass below, `make chaos` 1,000 orders and 100 kills.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from tests.conftest import MakeTenant, order_body, recipient
from tests.e2e.harness import Deployment, Receiver
from tests.e2e.invariants import settle_and_check

pytestmark = pytest.mark.chaos

#: `make chaos` raises both; `make test` runs this short pass.
ORDERS = int(os.environ.get("CHAOS_ORDERS", "60"))
KILLS = int(os.environ.get("CHAOS_KILLS", "24"))


def test_sigkill_workers_mid_stage_loses_nothing_and_charges_once(
    pg_url: str, tmp_path: Path, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    rng = random.Random(20261123)
    # Given a deployment whose sweeper gives up on a stage after 2 s, a slow-ish receiver,
    # and orders of 1 to 40 letters (so rendering takes a while)
    receiver = Receiver(respond=lambda n: (200, {}, 0.05)).start()
    d = Deployment(pg_url, tmp_path, STAGE_DEADLINE_S="2", WEBHOOK_TIMEOUT_S="2")
    t = make_tenant(credits_cents=10_000_000)
    killed = 0
    order_ids: list[str] = []
    try:
        d.start_web()
        d.start_scheduler()
        d.start_worker(processes=2, threads=2)
        with d.client(t.key) as c:
            assert c.post("/webhooks", json={"url": receiver.url}).status_code == 201

            def submit() -> None:
                with d.client(t.key) as sc:
                    for i in range(ORDERS):
                        n = rng.choice([1, 2, 5, 20, 40])
                        body = order_body(n)
                        body["recipients"] = [recipient(first_name=f"P{i}-{j}") for j in range(n)]
                        r = sc.post("/orders", json=body)
                        assert r.status_code == 201, r.text
                        order_ids.append(r.json()["order"]["id"])
                        time.sleep(0.15)

            feeder = threading.Thread(target=submit)
            feeder.start()
            # When, while orders flow, the busy worker group is SIGKILLed at random moments
            while killed < KILLS:
                d.wait_worker_ready(processes=2)
                time.sleep(rng.uniform(0.05, 0.5))
                d.kill("worker", signal.SIGKILL)
                killed += 1
                d.start_worker(processes=2, threads=2)
            feeder.join()
            assert len(order_ids) == ORDERS

            # Then the shared check holds: every order processing (none failed), the
            # ledger whole, one capture each, every event delivered once to the
            # receiver, a finished job record for every stage passed. A worker killed
            # mid-send leaves that attempt's fate unknown, hence not exact attempts.
            settle_and_check(
                inkwell,
                accepted=[uuid.UUID(i) for i in order_ids],
                receivers=[receiver],
                exact_attempts=False,
                # The long pass (`make chaos`: 1,000 orders of up to 40 letters, 4 worker
                # threads) takes minutes to drain after the last kill.
                timeout_s=max(300, 1.2 * ORDERS),
            )
    finally:
        d.stop()
        receiver.stop()

    assert killed >= min(KILLS, 20)
    with inkwell.uow() as uow:
        s = uow.session
        # No order failed or was lost: every one accepted is processing (settle_and_check
        # holds this too; said here so that no change to its defaults can loosen it)
        by_status = Counter(s.scalars(sa.select(tables.Order.status)).all())
        assert by_status == {"processing": ORDERS}, by_status
        # Evidence that kills landed inside jobs: runs started and never finished; stage
        # jobs the sweeper had to enqueue again (their message died with a worker); and
        # webhook attempts whose worker died mid-send. (A run killed after its stage
        # committed is on record as succeeded with that commit, so counts in none.)
        interrupted = Counter(
            s.scalars(
                sa.select(tables.JobRun.actor_name).where(tables.JobRun.outcome == "running")
            ).all()
        )
        o = tables.OutboxMessage
        stage_jobs = s.scalar(
            sa.select(sa.func.count()).where(
                o.actor_name.in_(["check_addresses", "render_order", "capture_order"])
            )
        )
        interrupted["stage jobs enqueued again"] = (stage_jobs or 0) - 3 * ORDERS
        a = tables.WebhookAttempt
        interrupted["sends cut short"] = (
            s.scalar(sa.select(sa.func.count()).where(a.error.contains("did not finish"))) or 0
        )
    print(f"\nkills={killed} interrupted: {dict(interrupted)}")
    assert sum(interrupted.values()) >= 5, interrupted
    # Every order told its partner three things exactly once (order.created,
    # order.confirmed, order.in_production): one webhook-id per delivery
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 3 * ORDERS
