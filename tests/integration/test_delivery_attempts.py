"""At most one send per attempt (the claim outlives the actor's time limit), a lost attempt
counts as one when the sweeper finds it, and N consecutive failed ATTEMPTS deactivate an
endpoint (reference 000), a success resetting the count and a 410 deactivating at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell, bootstrap, utcnow
from engine.services import delivery, fanout, sweeper
from engine.settings import Settings
from tests.conftest import make_settings
from tests.integration.hostile import RawReceiver, answer, drive, make_delivery, state


def scripted(*statuses: int, then: int = 200, delay_s: float = 0.0) -> RawReceiver:
    """A receiver answering these statuses in turn (then `then`), after `delay_s`."""
    calls = {"n": 0}

    def behave(conn: socket.socket) -> None:
        calls["n"] += 1
        n = calls["n"]
        status = statuses[n - 1] if n <= len(statuses) else then
        time.sleep(delay_s)
        answer(f"{status} Scripted", {}, b"scripted")(conn)

    return RawReceiver(behave)


def settings_for(pg_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "webhook_retry_schedule_s": (0, 0, 0, 0, 0),
        "webhook_timeout_s": 3.0,
        "webhook_max_consecutive_failures": 3,
    }
    values.update(overrides)
    return make_settings(pg_url, tmp_path, **values)


@pytest.fixture
def app(pg_url: str, tmp_path: Path) -> Iterator[Inkwell]:
    inkwell = bootstrap(settings_for(pg_url, tmp_path))
    yield inkwell
    inkwell.close()


def endpoint_of(app: Inkwell) -> tables.WebhookEndpoint:
    with app.uow() as uow:
        return uow.session.scalars(sa.select(tables.WebhookEndpoint)).one()


# --- one send per attempt ------------------------------------------------------------------


def test_the_lease_outlives_the_actor_time_limit_which_outlives_the_send() -> None:
    settings = Settings(webhook_timeout_s=7, webhook_dns_timeout_s=2)
    assert settings.webhook_time_limit_s > 7 + 2
    assert settings.webhook_lease_s > settings.webhook_time_limit_s


def test_the_deliver_actor_takes_its_time_limit_from_the_settings() -> None:
    # Given a worker process started with WEBHOOK_TIMEOUT_S=7
    env = {**os.environ, "WEBHOOK_TIMEOUT_S": "7", "WEBHOOK_DNS_TIMEOUT_S": "2"}
    env.pop("REDIS_URL", None)
    code = "import workers.actors as a; print(a.deliver_webhook.options['time_limit'])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    # Then the deliver_webhook actor's time limit is the derived one
    expected = Settings(webhook_timeout_s=7, webhook_dns_timeout_s=2).webhook_time_limit_s
    assert int(out.stdout.strip()) == int(expected * 1000)


def test_a_slow_send_is_not_claimed_again_while_it_runs(pg_url: str, tmp_path: Path) -> None:
    # Given a receiver that takes 1.5 s to answer, and worker A sending to it
    settings = settings_for(pg_url, tmp_path)
    a = bootstrap(settings)
    # And worker B whose clock is already at the moment A's actor would be killed
    b = bootstrap(settings)
    b.clock = lambda: utcnow() + timedelta(seconds=settings.webhook_time_limit_s)
    try:
        with scripted(delay_s=1.5) as receiver:
            delivery_id = make_delivery(a, receiver.url)
            outcome: list[str] = []
            sending = threading.Thread(
                target=lambda: outcome.append(delivery.deliver(a, delivery_id))
            )
            sending.start()
            deadline = time.monotonic() + 5
            while receiver.hits == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert receiver.hits == 1

            # When B tries the same delivery while A's send is still running
            second = delivery.deliver(b, delivery_id)
            sending.join(10)

        # Then B found it held, A's one send succeeded, and the receiver saw one request
        assert second == "skipped"
        assert outcome == ["succeeded"]
        assert receiver.hits == 1
        assert state(a, delivery_id).attempts == 1
    finally:
        a.close()
        b.close()


def test_the_sweeper_counts_a_lost_attempt_and_schedules_the_next(app: Inkwell) -> None:
    # Given a delivery claimed by a worker that then died (its lease ran out unrecorded)
    with scripted(then=200) as receiver:
        delivery_id = make_delivery(app, receiver.url)
        claim = delivery._claim(app, delivery_id)
        assert claim is not None and claim.attempt == 1
        with app.uow() as uow:
            uow.session.execute(
                sa.update(tables.WebhookDelivery).values(
                    lease_until=app.clock() - timedelta(seconds=1)
                )
            )
            uow.commit()

        # When the sweeper runs
        report = sweeper.sweep(app)

        # Then that attempt is on record as failed, and the next is scheduled by the backoff
        assert report.deliveries_requeued == 1
        found = state(app, delivery_id)
        assert found.status == "retrying" and found.attempts == 1
        assert found.next_attempt_at is not None and found.lease_until is None
        assert [(r.number, r.status_code) for r in found.rows] == [(1, None)]
        assert "did not finish" in (found.rows[0].error or "")
        # And the partner's endpoint is not marked down for it: our worker died, not them
        assert endpoint_of(app).consecutive_failures == 0
        with app.uow() as uow:
            queued = uow.session.scalars(
                sa.select(tables.OutboxMessage.args).where(
                    tables.OutboxMessage.actor_name == "deliver_webhook"
                )
            ).all()
        assert sum(1 for args in queued if args.get("delivery_id") == str(delivery_id)) == 2

        # And a second sweep does not count it again
        sweeper.sweep(app)
        assert state(app, delivery_id).attempts == 1

        # And the next attempt is number 2, and succeeds
        assert drive(app, delivery_id) == ["succeeded", "skipped"]
        assert receiver.hits == 1
        assert [r.number for r in state(app, delivery_id).rows] == [1, 2]


# --- deactivation after N consecutive failed attempts --------------------------------------


def test_three_consecutive_failed_attempts_deactivate_the_endpoint(app: Inkwell) -> None:
    # Given a receiver that always answers 500, a schedule allowing 6 attempts, and
    # deactivation after 3 failed attempts
    with scripted(then=500) as receiver:
        delivery_id = make_delivery(app, receiver.url)

        # When the delivery is driven
        outcomes = drive(app, delivery_id)

    # Then the third failed attempt deactivated the endpoint and failed the delivery
    assert outcomes == ["retrying", "retrying", "failed", "skipped"]
    assert receiver.hits == 3
    endpoint = endpoint_of(app)
    assert endpoint.is_active is False
    assert endpoint.consecutive_failures == 3
    assert "3 consecutive failed attempts" in (endpoint.deactivated_reason or "")
    assert state(app, delivery_id).status == "failed"


def test_a_success_resets_the_count_of_failed_attempts(app: Inkwell) -> None:
    # Given a receiver that fails twice, succeeds, then fails twice more
    with scripted(500, 500, 200, 500, 500, then=200) as receiver:
        first = make_delivery(app, receiver.url)
        assert drive(app, first) == ["retrying", "retrying", "succeeded", "skipped"]
        assert endpoint_of(app).consecutive_failures == 0

        # When a second delivery to the same endpoint fails twice, then succeeds
        with app.uow() as uow:
            endpoint_id = uow.session.scalars(sa.select(tables.WebhookEndpoint.id)).one()
            event = uow.session.scalars(sa.select(tables.Event)).first()
            assert event is not None
            event.fanned_out_at = None
            uow.session.execute(sa.delete(tables.WebhookAttempt))
            uow.session.execute(sa.delete(tables.WebhookDelivery))
            uow.commit()
        assert fanout.fan_out(app, event.id) == 1
        with app.uow() as uow:
            second = uow.session.scalars(sa.select(tables.WebhookDelivery.id)).one()
        outcomes = drive(app, second)

    # Then four failures in all, never three in a row: the endpoint stays active
    assert outcomes == ["retrying", "retrying", "succeeded", "skipped"]
    endpoint = endpoint_of(app)
    assert endpoint.id == endpoint_id and endpoint.is_active is True
    assert endpoint.consecutive_failures == 0
    assert receiver.hits == 6


def test_successes_stamp_the_endpoint_at_most_once_a_second(app: Inkwell) -> None:
    # Given an endpoint whose first delivery succeeded: it is stamped as triggered
    with scripted(then=200) as receiver:
        first = make_delivery(app, receiver.url)
        assert drive(app, first) == ["succeeded", "skipped"]
        stamped = endpoint_of(app).last_triggered_at
        assert stamped is not None

        # When another delivery to it succeeds within the same second
        endpoint_id = endpoint_of(app).id
        with app.uow() as uow:
            event = uow.session.scalars(sa.select(tables.Event)).first()
            assert event is not None
            key = f"{event.id}:again"
        second = _another_delivery(app, event.id, endpoint_id, key)
        assert drive(app, second) == ["succeeded", "skipped"]

        # Then the stamp is the first one's (no write of the endpoint row at all)
        assert endpoint_of(app).last_triggered_at == stamped

        # And once the stamp is older than a second, the next success moves it
        with app.uow() as uow:
            uow.session.execute(
                sa.update(tables.WebhookEndpoint).values(
                    last_triggered_at=stamped - timedelta(seconds=2)
                )
            )
            uow.commit()
        third = _another_delivery(app, event.id, endpoint_id, f"{key}:3")
        assert drive(app, third) == ["succeeded", "skipped"]
    later = endpoint_of(app).last_triggered_at
    assert later is not None and later >= stamped


def _another_delivery(
    app: Inkwell, event_id: uuid.UUID, endpoint_id: uuid.UUID, key: str
) -> uuid.UUID:
    with app.uow() as uow:
        event = uow.session.scalars(
            sa.select(tables.Event).where(tables.Event.id == event_id)
        ).one()
        endpoint = uow.session.get(tables.WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        delivery_id = uuid.uuid4()
        assert fanout.insert_delivery(uow.session, delivery_id, event, endpoint, key, utcnow())
        uow.commit()
    return delivery_id


def test_a_410_deactivates_at_once(app: Inkwell) -> None:
    with scripted(then=410) as receiver:
        delivery_id = make_delivery(app, receiver.url)
        assert drive(app, delivery_id) == ["failed", "skipped"]
    assert receiver.hits == 1
    endpoint = endpoint_of(app)
    assert endpoint.is_active is False and "410" in (endpoint.deactivated_reason or "")
