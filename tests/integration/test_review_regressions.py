"""Regressions found in review of the concurrency-sensitive code."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from engine.adapters import tables, webhook_sender
from engine.bootstrap import Inkwell
from engine.domain import pricing
from engine.domain.statuses import EnvelopeType, PaperType, ProductType
from engine.services import (
    attempts,
    delivery,
    events,
    fanout,
    jobs,
    order_writer,
    orders,
    preparation,
    principals,
    webhooks,
)
from engine.services.acceptance import CreatedOrder
from tests.conftest import MakeTenant, order_body


def test_a_batch_keeps_each_orders_optional_fields(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given two orders written in one batch, the first without optional fields
    t = make_tenant()
    who = principals.authenticate(inkwell, f"Bearer {t.key}")
    plain = preparation.prepare_order(inkwell, who, order_body(1))
    send_date = datetime.now(UTC) + timedelta(days=3)
    rich = preparation.prepare_order(
        inkwell,
        who,
        order_body(
            1,
            send_date=send_date.isoformat(),
            mailing_option="we_mail",
            authenticity_preset="natural",
            return_address={
                "name": "Acme",
                "line1": "1 Main St",
                "city": "Austin",
                "state": "TX",
                "zip": "78701",
            },
        ),
    )

    # When they are written together
    results = order_writer.write_orders(inkwell, [plain, rich])

    # Then both are accepted and the second keeps every field it was given
    assert all(isinstance(r, CreatedOrder) for r in results)
    with inkwell.uow() as uow:
        stored = uow.session.get(tables.Order, rich.order.id)
        assert stored is not None
        assert stored.mailing_option == "we_mail"
        assert stored.authenticity_preset == "natural"
        assert stored.return_address is not None and stored.return_address["name"] == "Acme"
        assert stored.send_date is not None
        assert abs((stored.send_date - send_date).total_seconds()) < 1


def test_a_failed_job_record_write_is_kept_and_written_later(inkwell: Inkwell) -> None:
    # Given a run whose record cannot be written (a value too long for its column)
    log = jobs.JobLog(inkwell, interval_s=3600)
    run_id = uuid.uuid4()
    log.record(
        run_id,
        actor_name="x" * 500,
        queue_name="pipeline",
        message_id="m",
        args={},
        attempt=1,
        outcome="running",
        started_at=datetime.now(UTC),
    )
    with pytest.raises(sa.exc.DBAPIError):
        log.flush()

    # When it is corrected and finishes
    log.record(
        run_id, actor_name="render_order", outcome="succeeded", finished_at=datetime.now(UTC)
    )
    log.close()

    # Then its one complete row is in the database
    with inkwell.uow() as uow:
        row = uow.session.get(tables.JobRun, run_id)
        assert row is not None
        assert (row.actor_name, row.outcome) == ("render_order", "succeeded")
        assert row.finished_at is not None


def test_an_attempt_that_outlived_its_lease_does_not_overwrite_the_newer_one(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a delivery claimed by worker A, whose lease then runs out …
    t = make_tenant()
    who = principals.authenticate(inkwell, f"Bearer {t.key}")
    webhooks.create_endpoint(inkwell, who, {"url": "http://127.0.0.1:9/hook"})
    created = orders.create_order(inkwell, who, order_body(1))
    now = inkwell.clock()
    with inkwell.uow() as uow:
        order = uow.session.get(tables.Order, created.order.id)
        event_id = events.record(uow.session, order=order, type="order.confirmed", key="k", now=now)
        uow.commit()
    assert event_id is not None
    fanout.fan_out(inkwell, event_id)
    with inkwell.uow() as uow:
        delivery_id = uow.session.scalars(sa.select(tables.WebhookDelivery.id)).one()
    claim_a = delivery._claim(inkwell, delivery_id)
    assert claim_a is not None
    with inkwell.uow() as uow:
        uow.session.execute(
            sa.update(tables.WebhookDelivery).values(lease_until=now - timedelta(seconds=1))
        )
        uow.commit()
    # … and claimed again by worker B, whose attempt succeeds
    claim_b = delivery._claim(inkwell, delivery_id)
    assert claim_b is not None and claim_b.attempt == claim_a.attempt + 1
    ok = webhook_sender.AttemptResult(200, 5, "ok", None, None)
    assert attempts.record(inkwell, claim_b, ok) == "succeeded"

    # When A's late failure arrives
    failed = webhook_sender.AttemptResult(500, 5, "no", None, None)
    outcome = attempts.record(inkwell, claim_a, failed)

    # Then it is logged but changes nothing: still succeeded, endpoint not blamed
    assert outcome == "superseded"
    with inkwell.uow() as uow:
        row = uow.session.get(tables.WebhookDelivery, delivery_id)
        assert row is not None and row.status == "succeeded"
        endpoint = uow.session.scalars(sa.select(tables.WebhookEndpoint)).one()
        assert endpoint.consecutive_failures == 0
        assert (
            uow.session.scalar(sa.select(sa.func.count()).select_from(tables.WebhookAttempt)) == 2
        )


def test_requote_uses_the_prices_the_order_was_accepted_at() -> None:
    # Given a card order priced at $2.49 + envelope + premium paper, for 3 recipients
    prices = pricing.PriceList(per_card_cost_cents=249)
    quoted = pricing.quote(
        prices,
        product=ProductType.CARD,
        paper=PaperType.PREMIUM,
        envelope=EnvelopeType.STANDARD,
        count=3,
    )

    # When it shrinks to 2 letters (whatever the price list says now)
    again = pricing.requote(quoted.breakdown(), 2)

    # Then it costs exactly two of the same
    assert again.total_cents == 2 * (249 + 99 + 50)
    assert again.description() == (
        "2 cards x $2.49 + 2 envelopes x $0.99 + 2 premium paper upgrades x $0.50 = $7.96"
    )
