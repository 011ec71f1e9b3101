"""Every manual send is metered: retries of failed deliveries count against an endpoint's
hourly allowance (WEBHOOK_MANUAL_SENDS_PER_HOUR) exactly as resends do, on record in the
database, answered 429 rate_limit_exceeded with Retry-After past it."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell, utcnow
from engine.services import fanout
from tests.conftest import (
    MakeInkwell,
    TenantHandle,
    order_body,
    serve,
    tenant_factory,
)
from tests.integration.hostile import RawReceiver, answer, drive, state

ALLOWANCE = 3


def failing() -> RawReceiver:
    """A receiver that answers every request 500."""

    def behave(conn: socket.socket) -> None:
        answer("500 Internal Server Error", {}, b"down")(conn)

    return RawReceiver(behave)


@pytest.fixture
def served(make_inkwell: MakeInkwell) -> Iterator[tuple[Inkwell, httpx.Client]]:
    """Our app over HTTP: 3 manual sends per endpoint per hour, two attempts per delivery,
    and no deactivation within this test's failures."""
    app = make_inkwell(
        webhook_manual_sends_per_hour=ALLOWANCE,
        webhook_retry_schedule_s=(0,),
        webhook_max_consecutive_failures=50,
    )
    with serve(app) as c:
        yield app, c


def failed_delivery(app: Inkwell, c: httpx.Client, url: str) -> tuple[TenantHandle, uuid.UUID, str]:
    """A tenant whose order.confirmed delivery to `url` has failed after its two attempts;
    returns the tenant, the delivery id and the order id."""
    tenant = tenant_factory(app)()
    hook = c.post(
        "/webhooks", json={"url": url, "events": ["order.confirmed"]}, headers=tenant.headers
    )
    assert hook.status_code == 201, hook.text
    made = c.post("/orders", json=order_body(1), headers=tenant.headers)
    assert made.status_code == 201, made.text
    with app.uow() as uow:
        event_ids = uow.session.scalars(
            sa.select(tables.Event.id).where(tables.Event.fanned_out_at.is_(None))
        ).all()
    assert sum(fanout.fan_out(app, e) for e in event_ids) == 1
    with app.uow() as uow:
        delivery_id = uow.session.scalars(sa.select(tables.WebhookDelivery.id)).one()
    assert drive(app, delivery_id) == ["retrying", "failed", "skipped"]
    return tenant, delivery_id, made.json()["order"]["id"]


def manual_sends(app: Inkwell) -> list[tuple[str, uuid.UUID]]:
    with app.uow() as uow:
        m = tables.WebhookManualSend
        return [
            (kind, delivery_id)
            for kind, delivery_id in uow.session.execute(
                sa.select(m.kind, m.delivery_id).order_by(m.sent_at)
            )
        ]


def test_retries_alone_use_up_the_hourly_allowance(
    served: tuple[Inkwell, httpx.Client],
) -> None:
    app, c = served
    with failing() as receiver:
        # Given a failed delivery (two attempts seen by the receiver) and no resends at all
        tenant, delivery_id, _ = failed_delivery(app, c, receiver.url)
        retry = f"/webhook-logs/{delivery_id}/retry"

        # When it is retried as many times as the allowance allows, each retry sent
        for _ in range(ALLOWANCE):
            ok = c.post(retry, headers=tenant.headers)
            assert ok.status_code == 200, ok.text
            assert drive(app, delivery_id) == ["failed", "skipped"]

        # Then one more retry is refused with 429 rate_limit_exceeded and a Retry-After
        # of about an hour (when the first retry ages out of the window)
        over = c.post(retry, headers=tenant.headers)
        assert over.status_code == 429, over.text
        assert over.json()["error"] == "rate_limit_exceeded"
        assert 3500 < int(over.headers["Retry-After"]) <= 3600
        # And the refused retry sent nothing: 2 scheduled attempts + 3 retries
        assert drive(app, delivery_id) == ["skipped"]
        assert receiver.hits == 2 + ALLOWANCE
        assert state(app, delivery_id).attempts == 2 + ALLOWANCE
        # And each retry is on record as a manual send to that delivery
        assert manual_sends(app) == [("retry", delivery_id)] * ALLOWANCE

        # When the hour has passed
        app.clock = lambda: utcnow() + timedelta(hours=1, seconds=5)

        # Then the endpoint may be retried again
        again = c.post(retry, headers=tenant.headers)
        assert again.status_code == 200, again.text
        assert drive(app, delivery_id) == ["failed", "skipped"]
        assert receiver.hits == 3 + ALLOWANCE


def test_retries_and_resends_share_one_allowance(served: tuple[Inkwell, httpx.Client]) -> None:
    app, c = served
    with failing() as receiver:
        # Given a failed delivery retried twice and one resend of its event
        tenant, delivery_id, order_id = failed_delivery(app, c, receiver.url)
        retry = f"/webhook-logs/{delivery_id}/retry"
        for _ in range(ALLOWANCE - 1):
            assert c.post(retry, headers=tenant.headers).status_code == 200
            assert drive(app, delivery_id) == ["failed", "skipped"]
        resend = {"order_id": order_id, "event": "order.confirmed"}
        sent = c.post("/webhooks/resend", json=resend, headers=tenant.headers)
        assert sent.status_code == 201, sent.text

        # When one more of either is asked for
        retried = c.post(retry, headers=tenant.headers)
        resent = c.post("/webhooks/resend", json=resend, headers=tenant.headers)

        # Then both are refused, the allowance being spent by the three before
        for refused in (retried, resent):
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"] == "rate_limit_exceeded"
            assert int(refused.headers["Retry-After"]) > 0
        assert [kind for kind, _ in manual_sends(app)] == ["retry", "retry", "resend"]
        with app.uow() as uow:
            assert uow.session.scalar(sa.select(sa.func.count(tables.WebhookDelivery.id))) == 2
