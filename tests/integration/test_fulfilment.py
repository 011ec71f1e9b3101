"""After capture: letters printed, mailed and delivered, with 000's events at their moments
(`order.completed` when all are printed, `letter.mailed` per letter with its tracking,
`order.shipped` when all are mailed, `order.delivered`), each recorded once."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import errors
from engine.adapters import tables
from engine.bootstrap import Inkwell, bootstrap
from engine.services import fulfilment, orders, pipeline, principals, webhooks
from tests.conftest import TEST_SECRET_KEY, MakeTenant, _tenant_factory, make_settings, order_body

INKWELL = Path(sys.executable).with_name("inkwell")


@pytest.fixture
def quick(pg_url: str, tmp_path: Path) -> Iterator[Inkwell]:
    app = bootstrap(make_settings(pg_url, tmp_path, order_cancel_window_s=0))
    yield app
    app.close()


def in_production(app: Inkwell, letters: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A captured (processing) order of `letters` letters, with a subscribed endpoint."""
    t = _tenant_factory(app)(credits_cents=100_000)
    who = principals.authenticate(app, f"Bearer {t.key}")
    webhooks.create_endpoint(app, who, {"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    order_id = orders.create_order(app, who, order_body(letters)).order.id
    for stage in (pipeline.check_addresses, pipeline.render_order, pipeline.capture_order):
        assert stage(app, order_id) is pipeline.Outcome.DONE
    with app.uow() as uow:
        letter_ids = [r.id for r in orders.recipients_of(uow.session, order_id)]
    return order_id, letter_ids


def state(app: Inkwell, order_id: uuid.UUID) -> tuple[str, list[str], list[tables.Event]]:
    with app.uow() as uow:
        s = uow.session
        order = s.get(tables.Order, order_id)
        assert order is not None
        letters = [r.status for r in orders.recipients_of(s, order_id)]
        later = ("order.completed", "letter.mailed", "order.shipped", "order.delivered")
        found = s.scalars(
            sa.select(tables.Event)
            .where(tables.Event.order_id == order_id, tables.Event.type.in_(later))
            .order_by(tables.Event.seq)
        ).all()
        fan_outs = s.scalar(
            sa.select(sa.func.count()).where(
                tables.OutboxMessage.actor_name == "fan_out_event",
                tables.OutboxMessage.args["event_id"].as_string().in_([str(e.id) for e in found]),
            )
        )
        assert fan_outs == len(found)  # each event starts its own fan-out
        return order.status, letters, list(found)


def test_printed_then_mailed_then_delivered_sends_each_event_once(quick: Inkwell) -> None:
    # Given an order of two letters in production
    order_id, (first, second) = in_production(quick, 2)

    # When one letter is printed, nothing completes yet
    one = fulfilment.record_printed(quick, order_id, [first])
    assert (one.status, one.moved, one.events) == ("processing", 1, [])
    # When the rest is printed, the order completes
    rest = fulfilment.record_printed(quick, order_id)
    assert (rest.status, rest.moved, rest.events) == ("completed", 1, ["order.completed"])
    # When the first is mailed with tracking, one letter.mailed; the second ships the order
    m1 = fulfilment.record_mailed(quick, order_id, {first: "9400111899223856512345"})
    assert (m1.status, m1.events) == ("completed", ["letter.mailed"])
    m2 = fulfilment.record_mailed(quick, order_id, {second: None})
    assert (m2.status, m2.events) == ("shipped", ["letter.mailed", "order.shipped"])
    delivered = fulfilment.record_delivered(quick, order_id)
    assert (delivered.status, delivered.events) == ("shipped", ["order.delivered"])

    # And every report repeated records nothing more
    assert fulfilment.record_printed(quick, order_id, [first]).events == []
    assert fulfilment.record_mailed(quick, order_id, {first: "other"}).events == []
    assert fulfilment.record_delivered(quick, order_id).events == []

    # Then the order and its letters are shipped and mailed, with one event per moment
    status, letters, found = state(quick, order_id)
    assert status == "shipped"
    assert letters == ["mailed", "mailed"]
    assert [e.type for e in found] == [
        "order.completed",
        "letter.mailed",
        "letter.mailed",
        "order.shipped",
        "order.delivered",
    ]
    mailed = [e.data for e in found if e.type == "letter.mailed"]
    assert mailed[0]["tracking_number"] == "9400111899223856512345"
    assert mailed[0]["letter_id"] == str(first)
    assert mailed[1]["tracking_number"] is None
    assert all(e.data["order_id"] == str(order_id) for e in found)
    assert found[0].data["status"] == "completed"
    assert found[3].data["status"] == "shipped"
    # And the tracking number stayed the first one reported
    with quick.uow() as uow:
        letter = uow.session.get(tables.Recipient, first)
        assert letter is not None
        assert letter.tracking_number == "9400111899223856512345"
        assert letter.mailed_at is not None


def test_reports_out_of_order_are_refused_and_change_nothing(
    quick: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an order still pending (not captured) and one in production
    t = make_tenant(credits_cents=10_000)
    who = principals.authenticate(quick, f"Bearer {t.key}")
    pending = orders.create_order(quick, who, order_body(1)).order.id
    order_id, (letter,) = in_production(quick, 1)
    _, (other_letter,) = in_production(quick, 1)

    # When reports come too early, or name another order's letter
    # Then each is refused
    with pytest.raises(errors.Conflict):
        fulfilment.record_printed(quick, pending)
    with pytest.raises(errors.Conflict):
        fulfilment.record_mailed(quick, order_id, {letter: "X1"})  # not printed yet
    with pytest.raises(errors.Conflict):
        fulfilment.record_delivered(quick, order_id)  # not shipped
    with pytest.raises(errors.NotFound):
        fulfilment.record_printed(quick, order_id, [other_letter])
    with pytest.raises(errors.NotFound):
        fulfilment.record_printed(quick, uuid.uuid4())
    # And nothing moved
    assert state(quick, order_id)[:2] == ("processing", ["rendered"])
    assert state(quick, pending)[:2] == ("pending", ["pending"])


def test_the_operator_reports_production_with_the_inkwell_command(
    quick: Inkwell, pg_url: str, tmp_path: Path
) -> None:
    # Given an order in production
    order_id, (letter,) = in_production(quick, 1)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DATABASE_URL=pg_url, SECRET_KEY=TEST_SECRET_KEY)

    def inkwell(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(INKWELL), "orders", *args], env=env, capture_output=True, text=True, timeout=60
        )

    # When the operator reports it printed, mailed with tracking, and delivered
    too_soon = inkwell("delivered", str(order_id))
    printed = inkwell("printed", str(order_id))
    mailed = inkwell("mailed", str(order_id), "--letter", f"{letter}=EZ1000000001")
    delivered = inkwell("delivered", str(order_id))

    # Then each step says what happened, and a report out of turn is an error
    assert printed.returncode == 0, printed.stderr
    assert "completed; 1 letter(s) moved; order.completed" in printed.stdout
    assert mailed.returncode == 0, mailed.stderr
    assert "shipped; 1 letter(s) moved; letter.mailed, order.shipped" in mailed.stdout
    assert delivered.returncode == 0, delivered.stderr
    assert "order.delivered" in delivered.stdout
    assert too_soon.returncode == 1
    assert "only a shipped order can be delivered" in too_soon.stderr
    assert state(quick, order_id)[:2] == ("shipped", ["mailed"])
