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
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from engine.adapters import secretbox, tables
from engine.bootstrap import Inkwell, bootstrap, utcnow
from engine.services import deliveries, events, keys, orders, sweeper, tenants, webhooks
from engine.services.keys import Principal
from tests.conftest import make_settings, order_body
from tests.integration.hostile import RawReceiver, answer, drive, state
from tests.integration.test_secrets_at_rest import Receiver


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


# --- an attempt that cannot be prepared ---------------------------------------------------


def test_a_secret_sealed_under_another_key_fails_attempts_by_the_schedule_until_rotated(
    quick: Inkwell, pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver()
    try:
        # Given an endpoint whose secret was sealed under a SECRET_KEY we no longer hold
        other = bootstrap(make_settings(pg_url, tmp_path, secret_key=secretbox.new_key()))
        try:
            delivery_id, endpoint_id, who = new_delivery(other, receiver.url)
        finally:
            other.close()

        # When our workers try to deliver to it
        caplog.set_level(logging.WARNING, logger="inkwell.deliveries")
        outcomes = drive(quick, delivery_id)

        # Then each attempt failed with a partner-safe sentence, by the schedule, and the
        # delivery ended failed; nothing was sent
        assert outcomes == ["retrying", "retrying", "failed", "skipped"]
        found = state(quick, delivery_id)
        assert found.status == "failed" and found.attempts == 3
        reason = "the endpoint's signing secret could not be opened; rotate the secret"
        assert [(r.number, r.error) for r in found.rows] == [(n, reason) for n in (1, 2, 3)]
        assert receiver.received == []
        # And the sweeper, however late, has nothing to send again
        quick.clock = lambda: utcnow() + timedelta(days=1)
        assert sweeper.sweep(quick).deliveries_requeued == 0
        assert state(quick, delivery_id).attempts == 3
        # And the log says why, for operators, naming ids
        logged = [r for r in caplog.records if r.name == "inkwell.deliveries"]
        assert logged and all(str(delivery_id) in r.getMessage() for r in logged)
        assert all(r.exc_info and r.exc_info[0] is secretbox.CannotOpen for r in logged)

        # When the partner rotates the secret and retries the delivery
        quick.clock = utcnow
        _, secret = webhooks.rotate_secret(quick, who, endpoint_id)
        deliveries.retry(quick, who, delivery_id)

        # Then it is sent, signed with the new secret alone
        assert drive(quick, delivery_id) == ["succeeded", "skipped"]
        [(headers, body)] = receiver.received
        assert Webhook(secret).verify(body, headers)
        assert endpoint_row(quick, endpoint_id).previous_secret is None
    finally:
        receiver.close()
