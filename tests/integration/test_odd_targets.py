"""A stored target that the guard refuses at send time (an odd IP form the OS would read as
an address, a metadata address, a loopback one) ends like any failed delivery: each attempt
on record as refused, scheduled by the backoff, the delivery failed after the schedule, and
no connection made anywhere."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from tests.conftest import MakeInkwell
from tests.integration.hostile import RawReceiver, answer, drive, make_delivery, state


@pytest.fixture
def strict(make_inkwell: MakeInkwell) -> Inkwell:
    """Private targets refused, as in production; three attempts with no waiting."""
    return make_inkwell(
        webhook_allow_private_targets=False,
        webhook_retry_schedule_s=(0, 0),
        webhook_max_consecutive_failures=100,
    )


@pytest.mark.parametrize(
    "target",
    [
        "http://0010.0010.0010.0010/hook",  # octal: 8.8.8.8 to the OS resolver
        "http://0x7f.1/hook",  # hex and short form: 127.0.0.1
        "http://2130706433/hook",  # one decimal number: 127.0.0.1
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:{port}/hook",
    ],
)
def test_a_refused_stored_target_fails_on_schedule_and_is_never_reached(
    strict: Inkwell, target: str
) -> None:
    # Given a receiver on loopback, and an endpoint whose stored URL (written before the
    # guard, or by hand) is a form the guard refuses
    with RawReceiver(answer("200 OK", {}, b"ok")) as receiver:
        delivery_id = make_delivery(strict, "http://93.184.216.34/hook")  # public: accepted
        with strict.uow() as uow:
            uow.session.execute(
                sa.update(tables.WebhookEndpoint).values(
                    url=target.format(port=receiver.url.rsplit(":", 1)[1].split("/")[0])
                )
            )
            uow.commit()

        # When the delivery runs its whole schedule
        outcomes = drive(strict, delivery_id)

        # Then every attempt is a refused, recorded failure, and nothing was reached
        end = state(strict, delivery_id)
        assert receiver.hits == 0
    assert outcomes[-1] == "skipped", outcomes
    assert end.status == "failed" and end.attempts == 3 and end.lease_until is None
    assert [row.number for row in end.rows] == [1, 2, 3]
    for row in end.rows:
        assert row.status_code is None
        assert row.error is not None, row
        assert "refused" in row.error or "not allowed" in row.error, row.error
        # and the reason names no address the host resolved to
        assert "127.0.0.1" not in row.error and "8.8.8.8" not in row.error
