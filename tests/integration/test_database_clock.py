"""Every process reads the database's time: a machine clock ten minutes fast (or slow) is
corrected, so one process never sees another's fresh work as stalled or not yet due."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa

from engine.adapters import clock, tables
from engine.bootstrap import Inkwell
from engine.services import fanout, orders, principals, sweeper, webhooks
from tests.conftest import MakeTenant, order_body


def database_now(pg_url: str) -> object:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize("skew_s", [600, -600])
def test_a_skewed_machine_clock_reads_the_database_time(
    inkwell: Inkwell, pg_url: str, skew_s: int
) -> None:
    # Given a machine whose clock is ten minutes off
    assert isinstance(inkwell.clock, clock.DatabaseClock)
    inkwell.clock = clock.DatabaseClock(
        inkwell.engine, local=lambda: clock.utcnow() + timedelta(seconds=skew_s)
    )
    # When the process asks the time, Then it gets the database's, to within a second
    ours = inkwell.clock()
    theirs = database_now(pg_url)
    assert abs(ours - theirs) < timedelta(seconds=1), (ours, theirs)  # type: ignore[operator]


def test_a_sweeper_on_a_fast_machine_leaves_fresh_deliveries_alone(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a delivery just queued by a worker on a true clock
    t = make_tenant(credits_cents=10_000)
    who = principals.authenticate(inkwell, f"Bearer {t.key}")
    webhooks.create_endpoint(inkwell, who, {"url": "http://127.0.0.1:9/in", "events": ["*"]})
    order_id = orders.create_order(inkwell, who, order_body(1)).order.id
    with inkwell.uow() as uow:
        event_ids = uow.session.scalars(
            sa.select(tables.Event.id).where(tables.Event.order_id == order_id)
        ).all()
    for event_id in event_ids:
        fanout.fan_out(inkwell, event_id)
    with inkwell.uow() as uow:  # and its jobs handed to the broker (out of the outbox)
        uow.session.execute(sa.update(tables.OutboxMessage).values(published_at=inkwell.clock()))
        uow.commit()

    # When a sweeper whose machine runs ten minutes fast looks for stalled work
    inkwell.clock = clock.DatabaseClock(
        inkwell.engine, local=lambda: clock.utcnow() + timedelta(minutes=10)
    )
    report = sweeper.sweep(inkwell)

    # Then nothing is counted as lost: every delivery is still pending, no attempt made
    assert report.total == 0, report
    with inkwell.uow() as uow:
        found = uow.session.execute(
            sa.select(tables.WebhookDelivery.status, tables.WebhookDelivery.attempts)
        ).all()
    assert found and all(row == ("pending", 0) for row in found), found
