"""Faults staged against real processes while orders flow, each scenario ending with the
one shared check (tests/e2e/invariants.py). `make test` runs a short pass of each;
`make chaos` (CHAOS_LONG=1) the long one. The SIGKILL scenario is tests/e2e/test_chaos.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from engine.adapters import migrate, tables
from engine.bootstrap import Inkwell, bootstrap
from engine.services import tenants
from tests.conftest import MakeTenant, TenantHandle, make_settings
from tests.e2e.harness import Deployment, Feeder, Receiver, SecondRelay, wait_until
from tests.e2e.invariants import settle_and_check
from tests.e2e.throwaway import PostgresCluster, RedisServer

pytestmark = pytest.mark.chaos

#: `make chaos` sets CHAOS_LONG=1: more orders, longer outages, more crashes.
LONG = os.environ.get("CHAOS_LONG") == "1"


def size(short: int, long: int) -> int:
    return long if LONG else short


CREDITS = 100_000_000


def subscribe(d: Deployment, key: str, receiver: Receiver, events: list[str] | None = None) -> str:
    """Register `receiver` for `events` (default: every event); returns the endpoint id."""
    body: dict[str, object] = {"url": receiver.url}
    if events is not None:
        body["events"] = events
    with d.client(key) as c:
        r = c.post("/webhooks", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["webhook"]["id"])


@contextlib.contextmanager
def flowing(
    d: Deployment,
    key: str,
    receiver: Receiver,
    start: Callable[[Deployment], object] = Deployment.start_all,
) -> Iterator[str]:
    """Start `d` (every process, or as `start` does), wait for its worker and subscribe
    `receiver` to every event; yields the endpoint id, and stops `d` however the block ends."""
    try:
        start(d)
        d.wait_worker_ready()
        yield subscribe(d, key, receiver)
    finally:
        d.stop()


@pytest.fixture
def funded(make_tenant: MakeTenant) -> TenantHandle:
    """A tenant with credits for the long pass, whose orders capture at once."""
    return make_tenant(credits_cents=CREDITS, cancel_window_s=0)


def all_alive(d: Deployment) -> dict[str, int | None]:
    """Each process's exit code (None: still running, never restarted)."""
    return {name: proc.poll() for name, proc in d.procs.items()}


@pytest.mark.parametrize("keep_data", [True, False], ids=["with-data", "without-data"])
def test_redis_stopped_and_restarted(
    keep_data: bool,
    pg_url: str,
    tmp_path: Path,
    inkwell: Inkwell,
    funded: TenantHandle,
    receiver: Receiver,
) -> None:
    # Given a deployment on a Redis of its own (never the machine's shared one)
    redis = RedisServer(tmp_path / "redis").start()
    d = Deployment(pg_url, tmp_path, REDIS_URL=redis.url)
    orders = size(15, 300)
    try:
        with flowing(d, funded.key, receiver):
            feeder = Feeder(d, funded.key, orders).start()

            # When Redis stops a third of the way in (saving its data or not), stays down,
            # and comes back on the same port
            feeder.wait_for(orders // 3)
            redis.stop(keep_data=keep_data)
            time.sleep(size(4, 10))
            redis.start()
            feeder.join()

            # Then everything settles without restarting a process
            settle_and_check(inkwell, accepted=feeder.accepted, receivers=[receiver])
            assert all_alive(d) == dict.fromkeys(d.procs), all_alive(d)
    finally:
        redis.close()
    print(f"\nredis keep_data={keep_data}: {len(feeder.accepted)} accepted, {feeder.refused}")
    # The API does not need the broker to accept an order
    assert len(feeder.accepted) == orders, feeder.refused


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[tuple[PostgresCluster, str, Inkwell]]:
    """A throwaway PostgreSQL cluster (never the machine's shared one), migrated, with an
    Inkwell on it for the test's own reads."""
    cluster = PostgresCluster().start()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE inkwell")
        url = cluster.url("inkwell")
        migrate.upgrade(url)
        app = bootstrap(make_settings(url, tmp_path))
        try:
            yield cluster, url, app
        finally:
            app.close()
    finally:
        cluster.close()


def test_postgres_restarted_mid_flow(
    own_cluster: tuple[PostgresCluster, str, Inkwell], tmp_path: Path, receiver: Receiver
) -> None:
    # Given a deployment on a PostgreSQL cluster of its own
    cluster, url, app = own_cluster
    t = tenants.create_tenant(app, name="Acme", credits_cents=CREDITS, cancel_window_s=0)
    d = Deployment(url, tmp_path)
    orders = size(15, 300)
    with flowing(d, t.api_key, receiver):
        feeder = Feeder(d, t.api_key, orders).start()

        # When the server restarts (fast: every connection cut) a third of the way in
        feeder.wait_for(orders // 3)
        cluster.restart()
        feeder.join()

        # Then every process recovers by itself and everything settles
        settle_and_check(app, accepted=feeder.accepted, receivers=[receiver])
        assert all_alive(d) == dict.fromkeys(d.procs), all_alive(d)
    print(f"\npostgres restart: {len(feeder.accepted)} accepted, refused {feeder.refused}")


def test_web_killed_between_commit_and_publish(
    pg_url: str,
    tmp_path: Path,
    inkwell: Inkwell,
    funded: TenantHandle,
    receiver: Receiver,
) -> None:
    # Given a web process that dies right after an order's commit, before it publishes,
    # whenever the marker file exists (tests/e2e/crashing_web.py; one order alone is
    # tests/e2e/test_outbox_crash.py)
    marker = tmp_path / "crash-next-commit"
    d = Deployment(pg_url, tmp_path, CRASH_MARKER=str(marker))
    orders, crashes = size(12, 200), size(2, 10)
    web = "tests.e2e.crashing_web:app"

    def start(d: Deployment) -> None:
        d.start_web(web)
        d.start_worker()
        d.start_scheduler()

    with flowing(d, funded.key, receiver, start):
        feeder = Feeder(d, funded.key, orders).start()

        # When, while orders flow, it is made to die that way `crashes` times (and its
        # process manager starts it again)
        for n in range(1, crashes + 1):
            feeder.wait_for(n * orders // (crashes + 1))
            marker.touch()
            assert d.procs["web"].wait(timeout=60) == 9
            d.start_web(web)
        feeder.join()

        # Then each crash left one order the client never heard of, committed; the
        # scheduler published its first job, and it settled like every other
        assert feeder.refused == {"no answer": crashes}
        with inkwell.uow() as uow:
            ids = set(uow.session.scalars(sa.select(tables.Order.id)))
        unanswered = ids - set(feeder.accepted)
        assert len(unanswered) == crashes
        assert len(ids) == orders
        settle_and_check(inkwell, accepted=ids, receivers=[receiver])


def test_receiver_down_through_the_retry_schedule_then_replayed(
    pg_url: str,
    tmp_path: Path,
    inkwell: Inkwell,
    funded: TenantHandle,
) -> None:
    # Given a receiver that answers 503 to everything, subscribed to every event
    down = True
    receiver = Receiver(respond=lambda n: 503 if down else 200).start()
    d = Deployment(pg_url, tmp_path)
    orders = size(4, 40)
    try:
        with flowing(d, funded.key, receiver) as endpoint_id:
            # When orders flow while it is down, until every delivery has ended
            feeder = Feeder(d, funded.key, orders).start()
            feeder.join()
            assert len(feeder.accepted) == orders

            def quiet() -> bool:
                with inkwell.uow() as uow:
                    s = uow.session
                    open_ = s.scalar(
                        sa.select(sa.func.count()).where(
                            tables.WebhookDelivery.status.in_(("pending", "retrying"))
                        )
                    )
                    pending = s.scalar(
                        sa.select(sa.func.count()).where(
                            tables.Order.status != "processing",
                        )
                    )
                    unfanned = s.scalar(
                        sa.select(sa.func.count()).where(tables.Event.fanned_out_at.is_(None))
                    )
                    return open_ == 0 and pending == 0 and unfanned == 0

            wait_until(quiet, timeout_s=120, what="orders processing, deliveries ended")

            # Then the endpoint was deactivated after 3 failed attempts, its deliveries failed
            with d.client(funded.key) as c:
                endpoint = c.get(f"/webhooks/{endpoint_id}").json()["webhook"]
            assert endpoint["is_active"] is False
            assert "3 consecutive failed attempts" in (endpoint.get("deactivated_reason") or "")
            with inkwell.uow() as uow:
                statuses = set(uow.session.scalars(sa.select(tables.WebhookDelivery.status)))
            assert statuses == {"failed"}
            assert len(receiver.received) >= 3

            # When it recovers and the endpoint is reactivated with replay
            down = False
            with d.client(funded.key) as c:
                r = c.post(f"/webhooks/{endpoint_id}/reactivate")
                assert r.status_code == 200, r.text

            # Then every event arrives once, and the attempts match what the receiver saw
            settle_and_check(inkwell, accepted=feeder.accepted, receivers=[receiver])
    finally:
        receiver.stop()


def test_every_message_delivered_twice(
    pg_url: str,
    tmp_path: Path,
    inkwell: Inkwell,
    funded: TenantHandle,
    receiver: Receiver,
) -> None:
    # Given a deployment beside a second relay that publishes every outbox row again
    # (tests/e2e/test_outbox_crash.py does this by hand for one order)
    d = Deployment(pg_url, tmp_path)
    orders = size(15, 300)
    second = SecondRelay(d, pg_url)
    with flowing(d, funded.key, receiver):
        second.start()
        try:
            # When orders flow
            feeder = Feeder(d, funded.key, orders).start()
            feeder.join()

            # Then every job arrived twice, and nothing happened twice
            settle_and_check(inkwell, accepted=feeder.accepted, receivers=[receiver])
            wait_until(
                lambda: second.pending() == 0, timeout_s=60, what="every row published twice"
            )
            settle_and_check(inkwell, accepted=feeder.accepted, receivers=[receiver])
        finally:
            second.stop()
    assert len(feeder.accepted) == orders
    # Each order: three stages, three events fanned out, three deliveries at least
    assert len(second.republished) >= 9 * orders


def test_scheduler_clock_ten_minutes_ahead(
    pg_url: str,
    tmp_path: Path,
    inkwell: Inkwell,
    funded: TenantHandle,
    receiver: Receiver,
) -> None:
    # Given a deployment whose scheduler's clock runs 10 minutes fast
    d = Deployment(pg_url, tmp_path)
    orders = size(15, 300)

    def start(d: Deployment) -> None:
        d.start_web()
        d.start_worker()
        d.start_scheduler(clock_skew_s=600)

    with flowing(d, funded.key, receiver, start):
        # When orders flow
        feeder = Feeder(d, funded.key, orders).start()
        feeder.join()

        # Then everything settles as with a true clock
        settle_and_check(inkwell, accepted=feeder.accepted, receivers=[receiver])
    assert len(feeder.accepted) == orders
    # The skew was real: the scheduler's machine clock ran ten minutes fast, and the
    # process measured it against the database (engine/adapters/clock.py) and corrected it
    offsets = re.findall(r"clock offset from the database: (-?[\d.]+) s", d.log("scheduler"))
    assert offsets and all(-610 < float(o) < -590 for o in offsets), d.log("scheduler")
    # And what it published it stamped in the database's time, not ten minutes ahead
    with inkwell.uow() as uow:
        o = tables.OutboxMessage
        ahead = uow.session.scalar(
            sa.select(sa.func.count()).where(
                o.published_at > o.created_at + sa.text("interval '5 minutes'")
            )
        )
    assert ahead == 0
