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
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from engine.adapters import secretbox, tables
from engine.bootstrap import Inkwell, bootstrap, utcnow
from engine.domain import delivery_outcome
from engine.services import (
    delivery,
    manual_sends,
    sweeper,
    webhooks,
)
from tests.conftest import MakeInkwell, make_settings
from tests.integration.hostile import RawReceiver, answer, drive, new_delivery, state
from tests.integration.test_secrets_at_rest import Receiver


def ok_receiver() -> RawReceiver:
    def behave(conn: socket.socket) -> None:
        answer("200 OK", {}, b"ok")(conn)

    return RawReceiver(behave)


def endpoint_row(app: Inkwell, endpoint_id: uuid.UUID) -> tables.WebhookEndpoint:
    with app.uow() as uow:
        found = uow.session.get(tables.WebhookEndpoint, endpoint_id)
        assert found is not None
        return found


@pytest.fixture
def quick(make_inkwell: MakeInkwell) -> Inkwell:
    """Three attempts per delivery, retried at once."""
    return make_inkwell(webhook_retry_schedule_s=(0, 0))


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
        manual_sends.retry(quick, who, delivery_id)

        # Then it is sent, signed with the new secret alone
        assert drive(quick, delivery_id) == ["succeeded", "skipped"]
        [(headers, body)] = receiver.received
        assert Webhook(secret).verify(body, headers)
        assert endpoint_row(quick, endpoint_id).previous_secret is None
    finally:
        receiver.close()


# --- a job lost before it ran -----------------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def broker_loses_what_is_published(app: Inkwell) -> None:
    """The relay publishes every due outbox row, and the broker loses them all."""
    o = tables.OutboxMessage
    with app.uow() as uow:
        uow.session.execute(
            sa.update(o)
            .where(o.published_at.is_(None), o.available_at <= app.clock())
            .values(published_at=app.clock())
        )
        uow.commit()


def deliver_jobs(app: Inkwell, delivery_id: uuid.UUID) -> list[datetime]:
    """When each deliver_webhook job for this delivery was due, in order."""
    o = tables.OutboxMessage
    with app.uow() as uow:
        rows = uow.session.execute(
            sa.select(o.available_at, o.args)
            .where(o.actor_name == "deliver_webhook")
            .order_by(o.available_at)
        ).all()
    return [at for at, args in rows if args["delivery_id"] == str(delivery_id)]


@pytest.fixture
def timed(pg_url: str, tmp_path: Path) -> Iterator[tuple[Inkwell, Clock]]:
    """An app on a hand-moved clock: stage deadline 60 s, retries after 30 s then 300 s."""
    app = bootstrap(
        make_settings(pg_url, tmp_path, stage_deadline_s=60, webhook_retry_schedule_s=(30, 300))
    )
    clock = Clock()
    app.clock = clock
    yield app, clock
    app.close()


def test_a_lost_job_is_swept_once_per_backoff_step_then_the_delivery_fails(
    timed: tuple[Inkwell, Clock],
) -> None:
    app, clock = timed
    with ok_receiver() as receiver:
        # Given a delivery whose job the broker lost (and loses every job after it)
        delivery_id, endpoint_id, _ = new_delivery(app, receiver.url)
        start = clock.now
        broker_loses_what_is_published(app)

        # When the sweeper runs every 15 s for 45 minutes
        swept_at: list[float] = []
        for _ in range(180):
            clock.advance(15)
            broker_loses_what_is_published(app)
            if sweeper.sweep(app).deliveries_requeued:
                swept_at.append((clock.now - start).total_seconds())

        # Then it was swept once per backoff step: 60 s past due (75 s), 60 s past the
        # 30 s retry (180 s), 60 s past the 300 s retry (555 s); then, the losses being
        # ours, not the partner's, five more times at the schedule's last step, and never
        # again
        extra = [555 + 375 * n for n in range(1, 1 + delivery_outcome.OURS_EXTRA_ATTEMPTS)]
        assert swept_at == [75, 180, 555, *extra]
        # And each sweep counted one failed attempt with a partner-safe sentence
        found = state(app, delivery_id)
        attempts = 3 + delivery_outcome.OURS_EXTRA_ATTEMPTS
        assert found.status == "failed" and found.attempts == attempts
        assert found.next_attempt_at is None and found.lease_until is None
        assert [(r.number, r.status_code, r.error) for r in found.rows] == [
            (n, None, "the attempt's job was lost before it ran") for n in range(1, attempts + 1)
        ]
        # And the next attempts were enqueued by the backoff (fan-out, +30 s, +300 s, then
        # +300 s after each extra loss)
        assert [(at - start).total_seconds() for at in deliver_jobs(app, delivery_id)] == [
            0,
            75 + 30,
            180 + 300,
            *[at + 300 for at in [555, *extra[:-1]]],
        ]
        # And the receiver never heard of it, and the endpoint is not blamed for our loss
        assert receiver.hits == 0
        endpoint = endpoint_row(app, endpoint_id)
        assert endpoint.is_active and endpoint.consecutive_failures == 0


def test_a_late_job_after_a_sweep_waits_for_the_next_attempt_which_is_sent(
    timed: tuple[Inkwell, Clock],
) -> None:
    app, clock = timed
    with ok_receiver() as receiver:
        # Given a delivery whose job was swept as lost (attempt 1 failed, next in 30 s)
        delivery_id, _, _ = new_delivery(app, receiver.url)
        broker_loses_what_is_published(app)
        clock.advance(61)
        assert sweeper.sweep(app).deliveries_requeued == 1

        # When the job was only late, and runs now
        late = delivery.deliver(app, delivery_id)

        # Then it sends nothing before the scheduled attempt
        assert late == "skipped" and receiver.hits == 0
        # And the scheduled attempt (number 2) is sent once and succeeds
        clock.advance(30)
        assert drive(app, delivery_id) == ["succeeded", "skipped"]
        assert receiver.hits == 1
        found = state(app, delivery_id)
        assert found.status == "succeeded"
        assert [(r.number, r.status_code) for r in found.rows] == [(1, None), (2, 200)]


def test_a_job_still_waiting_in_the_outbox_is_not_counted_as_lost(
    timed: tuple[Inkwell, Clock],
) -> None:
    app, clock = timed
    with ok_receiver():
        # Given a delivery whose job the relay holds back (its broker queue is full)
        delivery_id, _, _ = new_delivery(app, "http://127.0.0.1:9/hook")

        # When the sweeper runs long after it was due
        clock.advance(3600)
        report = sweeper.sweep(app)

        # Then nothing was counted: the job is queued, not lost
        assert report.deliveries_requeued == 0
        found = state(app, delivery_id)
        assert (found.status, found.attempts, found.rows) == ("pending", 0, [])

        # And once the relay has published it and the broker lost it, it is counted
        broker_loses_what_is_published(app)
        assert sweeper.sweep(app).deliveries_requeued == 1
        assert state(app, delivery_id).attempts == 1
