"""Events at the moments 000 gives them (DESIGN.md section 2): `order.created` and
`order.confirmed` in the transaction that accepts the order and holds its credits,
`order.in_production` at capture; every 001 event name can be subscribed to."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import pipeline
from engine.services.pipeline import Outcome
from tests.conftest import MakeTenant, order_body

#: The fields of 001's example payload (order.confirmed).
PAYLOAD_FIELDS = {
    "order_id",
    "status",
    "letter_count",
    "total_cents",
    "product_type",
    "recipient_count",
    "created_at",
    # 000 asks for the partner's own fields back in webhook payloads
    "metadata",
    "external_id",
}
#: Every event name 001 lists, in either of its webhook sections, and `*`.
EVENTS_001 = [
    "order.created",
    "order.paid",
    "order.in_production",
    "order.shipped",
    "order.delivered",
    "order.cancelled",
    "order.confirmed",
    "order.completed",
    "letter.mailed",
    "*",
]


def events_of(app: Inkwell, order_id: uuid.UUID) -> dict[str, tables.Event]:
    with app.uow() as uow:
        rows = uow.session.scalars(
            sa.select(tables.Event).where(tables.Event.order_id == order_id)
        ).all()
    return {e.type: e for e in rows}


def outbox_fan_outs(app: Inkwell) -> set[str]:
    with app.uow() as uow:
        rows = uow.session.scalars(
            sa.select(tables.OutboxMessage).where(
                tables.OutboxMessage.actor_name == "fan_out_event"
            )
        ).all()
    return {r.args["event_id"] for r in rows}


def test_created_and_confirmed_exist_as_post_orders_returns(
    client: httpx.Client, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a tenant (no workers run here, so no pipeline stage can have run)
    t = make_tenant(credits_cents=10_000, cancel_window_s=0)

    # When it places an order
    r = client.post("/orders", json=order_body(2), headers=t.headers)
    assert r.status_code == 201, r.text
    order_id = uuid.UUID(r.json()["order"]["id"])

    # Then order.created and order.confirmed are committed with the order, at stage received
    found = events_of(inkwell, order_id)
    assert sorted(found) == ["order.confirmed", "order.created"]
    with inkwell.uow() as uow:
        order = uow.session.get(tables.Order, order_id)
        assert order is not None
        assert (order.status, order.stage) == ("pending", "received")
    # And their data carries exactly 001's payload fields (plus metadata and external_id)
    for event in found.values():
        assert set(event.data) == PAYLOAD_FIELDS
        assert event.data["order_id"] == str(order_id)
        assert event.data["status"] == "pending"
        assert event.data["total_cents"] == r.json()["order"]["total_cents"]
        assert event.data["letter_count"] == 2
    # And each has its fan-out in the outbox of the same transaction
    assert {str(e.id) for e in found.values()} <= outbox_fan_outs(inkwell)


def test_a_refused_order_records_no_event(
    client: httpx.Client, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a tenant too poor for the order
    t = make_tenant(credits_cents=10)

    # When it places the order
    r = client.post("/orders", json=order_body(1), headers=t.headers)

    # Then it is refused and nothing was recorded
    assert r.status_code == 402, r.text
    with inkwell.uow() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(tables.Event)) == 0


def test_in_production_is_recorded_at_capture(
    client: httpx.Client, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an accepted order with no cancel window
    t = make_tenant(credits_cents=10_000, cancel_window_s=0)
    r = client.post("/orders", json=order_body(1), headers=t.headers)
    order_id = uuid.UUID(r.json()["order"]["id"])

    # When checking and rendering run, nothing new is recorded yet
    assert pipeline.check_addresses(inkwell, order_id) is Outcome.DONE
    assert pipeline.render_order(inkwell, order_id) is Outcome.DONE
    assert "order.in_production" not in events_of(inkwell, order_id)

    # When capture runs (twice: a duplicate message)
    assert pipeline.capture_order(inkwell, order_id) is Outcome.DONE
    assert pipeline.capture_order(inkwell, order_id) is Outcome.SKIPPED

    # Then order.in_production is recorded once, the order processing
    found = events_of(inkwell, order_id)
    assert sorted(found) == ["order.confirmed", "order.created", "order.in_production"]
    produced = found["order.in_production"]
    assert set(produced.data) == PAYLOAD_FIELDS
    assert produced.data["status"] == "processing"


@pytest.mark.parametrize("event", EVENTS_001)
def test_every_001_event_name_can_be_subscribed_to(
    client: httpx.Client, make_tenant: MakeTenant, event: str
) -> None:
    # Given a tenant
    t = make_tenant()

    # When it subscribes to one of 001's event names
    r = client.post(
        "/webhooks",
        json={"url": "https://partner.example.com/h", "events": [event]},
        headers=t.headers,
    )

    # Then the subscription is accepted as asked
    assert r.status_code == 201, r.text
    assert r.json()["webhook"]["events"] == [event]


def test_an_unknown_event_name_is_still_refused(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    r = client.post(
        "/webhooks",
        json={"url": "https://partner.example.com/h", "events": ["order.exploded"]},
        headers=t.headers,
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "validation_error"
