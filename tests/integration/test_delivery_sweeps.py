"""Every delivery ends, whatever goes wrong on our side: an attempt that cannot be prepared
(a signing secret sealed under a key we no longer hold) or whose job was lost before it ran
is a failed attempt with a partner-safe sentence, scheduled by the delivery backoff and
failed when the schedule is spent, never sent again on every sweep. Exception text goes to
the log, with ids only."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell, bootstrap
from engine.services import deliveries, events, keys, orders, tenants, webhooks
from engine.services.keys import Principal
from tests.conftest import make_settings, order_body
from tests.integration.hostile import RawReceiver, answer, drive, state


def ok_receiver() -> RawReceiver:
    def behave(conn: socket.socket) -> None:
        answer("200 OK", {}, b"ok")(conn)

    return RawReceiver(behave)


def new_delivery(app: Inkwell, url: str) -> tuple[uuid.UUID, uuid.UUID, Principal]:
    """A pending order.confirmed delivery to a new tenant's endpoint on `url`, its endpoint
    secret sealed under `app`'s SECRET_KEY; returns delivery id, endpoint id, principal."""
    made = tenants.create_tenant(app, name="Sweeps", credits_cents=100_000)
    who = keys.authenticate(app, f"Bearer {made.api_key}")
    endpoint, _ = webhooks.create_endpoint(app, who, {"url": url, "events": ["*"]})
    created = orders.create_order(app, who, order_body(1))
    with app.uow() as uow:
        order = uow.session.get(tables.Order, created.order.id)
        event_id = events.record(
            uow.session, order=order, type="order.confirmed", key="t", now=app.clock()
        )
        uow.commit()
    assert event_id is not None
    assert deliveries.fan_out(app, event_id) == 1
    with app.uow() as uow:
        delivery_id = uow.session.scalars(sa.select(tables.WebhookDelivery.id)).one()
    return delivery_id, endpoint.id, who


def endpoint_row(app: Inkwell, endpoint_id: uuid.UUID) -> tables.WebhookEndpoint:
    with app.uow() as uow:
        found = uow.session.get(tables.WebhookEndpoint, endpoint_id)
        assert found is not None
        return found


@pytest.fixture
def quick(pg_url: str, tmp_path: Path) -> Iterator[Inkwell]:
    """Three attempts per delivery, retried at once."""
    app = bootstrap(make_settings(pg_url, tmp_path, webhook_retry_schedule_s=(0, 0)))
    yield app
    app.close()


# --- exception text stays in the log ------------------------------------------------------


def test_a_fault_while_sending_is_recorded_as_a_sentence_and_logged_with_ids(
    quick: Inkwell, caplog: pytest.LogCaptureFixture
) -> None:
    with ok_receiver() as receiver:
        # Given an endpoint whose legacy plaintext secret is corrupt (signing it raises)
        delivery_id, endpoint_id, _ = new_delivery(quick, receiver.url)
        with quick.uow() as uow:
            uow.session.execute(
                sa.update(tables.WebhookEndpoint)
                .where(tables.WebhookEndpoint.id == endpoint_id)
                .values(secret="whsec_not-base64")
            )
            uow.commit()

        # When the delivery is driven
        caplog.set_level(logging.WARNING, logger="inkwell.deliveries")
        outcomes = drive(quick, delivery_id)

        # Then every attempt failed with our fixed sentence, no exception name or text
        assert outcomes == ["retrying", "retrying", "failed", "skipped"]
        errors = {r.error for r in state(quick, delivery_id).rows}
        assert errors == {"the attempt could not be sent because of an error on our side"}
        assert receiver.hits == 0
        # And the exception went to the log, with the delivery id and no message body
        logged = [r for r in caplog.records if r.name == "inkwell.deliveries"]
        assert len(logged) == 3
        for record in logged:
            assert str(delivery_id) in record.getMessage()
            assert record.exc_info is not None and "base64" in str(record.exc_info[1])
            assert "Thank you for your business" not in record.getMessage()
