"""Reactivating an endpoint replays what it missed: its failed deliveries, and the events
it subscribes to that were fanned out while it was off (which got no delivery)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import fanout, orders, webhooks
from engine.services.principals import Principal
from tests.conftest import MakeTenant, order_body
from tests.factories import principal, record_event


def deliveries_to(app: Inkwell, endpoint_id: uuid.UUID) -> list[tables.WebhookDelivery]:
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(tables.WebhookDelivery).where(
                    tables.WebhookDelivery.endpoint_id == endpoint_id
                )
            )
        )


def record_and_fan_out(app: Inkwell, order_id: uuid.UUID, type_: str) -> uuid.UUID:
    event_id = record_event(app, order_id, type_, key=f"{type_}:{order_id}")
    fanout.fan_out(app, event_id)
    return event_id


def switched_off(
    app: Inkwell, make_tenant: MakeTenant
) -> tuple[Principal, tables.WebhookEndpoint, uuid.UUID]:
    """A tenant's endpoint subscribed to order.in_production, switched off, and an order of
    that tenant's: the principal, the endpoint and the order id."""
    who = principal(app, make_tenant(credits_cents=10_000))
    endpoint = webhooks.create_endpoint(
        app, who, {"url": "http://127.0.0.1:9/in", "events": ["order.in_production"]}
    )[0]
    order_id = orders.create_order(app, who, order_body(1)).order.id
    webhooks.update_endpoint(app, who, endpoint.id, {"is_active": False})
    return who, endpoint, order_id


def test_reactivate_sends_the_events_fanned_out_while_the_endpoint_was_off(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an endpoint subscribed to order.in_production, switched off
    who, endpoint, order_id = switched_off(inkwell, make_tenant)
    # And, while it is off, two events: one it subscribes to and one it does not
    missed = [
        record_and_fan_out(inkwell, order_id, "order.in_production"),
        record_and_fan_out(inkwell, order_id, "order.shipped"),
    ]
    assert deliveries_to(inkwell, endpoint.id) == []

    # When it is reactivated (with replay, the default)
    _, queued = webhooks.reactivate(inkwell, who, endpoint.id)

    # Then the subscribed event it missed is delivered, the other not
    found = deliveries_to(inkwell, endpoint.id)
    assert queued == 1
    assert [(d.event_id, d.status) for d in found] == [(missed[0], "pending")]
    with inkwell.uow() as uow:
        queued_jobs = uow.session.scalars(
            sa.select(tables.OutboxMessage.args).where(
                tables.OutboxMessage.actor_name == "deliver_webhook"
            )
        ).all()
    assert {"delivery_id": str(found[0].id)} in queued_jobs
    # And reactivating again creates nothing twice
    assert webhooks.reactivate(inkwell, who, endpoint.id)[1] == 0
    assert len(deliveries_to(inkwell, endpoint.id)) == 1


def test_reactivate_never_sends_events_from_before_the_endpoint_existed(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an event fanned out before the endpoint was created
    t = make_tenant(credits_cents=10_000)
    who = principal(inkwell, t)
    order_id = orders.create_order(inkwell, who, order_body(1)).order.id
    record_and_fan_out(inkwell, order_id, "order.in_production")
    endpoint = webhooks.create_endpoint(
        inkwell, who, {"url": "http://127.0.0.1:9/in", "events": ["*"]}
    )[0]
    webhooks.update_endpoint(inkwell, who, endpoint.id, {"is_active": False})

    # When it is reactivated, Then nothing from before its time is sent
    assert webhooks.reactivate(inkwell, who, endpoint.id)[1] == 0
    assert deliveries_to(inkwell, endpoint.id) == []


def test_an_event_whose_fan_out_has_not_committed_reaches_a_reactivated_endpoint_once(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an endpoint switched off, and an event recorded while it was off whose fan-out
    # has not finished (it may have read the endpoints before the reactivation commits)
    who, endpoint, order_id = switched_off(inkwell, make_tenant)
    event_id = record_event(inkwell, order_id, "order.in_production", key="late-fan-out")

    # When the endpoint is reactivated before that fan-out commits
    _, queued = webhooks.reactivate(inkwell, who, endpoint.id)

    # Then the reactivation queued the event for it already
    assert queued == 1
    assert [d.event_id for d in deliveries_to(inkwell, endpoint.id)] == [event_id]
    # And the fan-out, when it runs, adds no second delivery for it
    assert fanout.fan_out(inkwell, event_id) == 0
    assert len(deliveries_to(inkwell, endpoint.id)) == 1
