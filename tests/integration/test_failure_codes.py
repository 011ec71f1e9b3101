"""Errors that help and leak nothing (issue 8, item 5), on a real Postgres database.

A failed order carries a stable `failure_code` and a human `failure_reason` in its JSON and
in `order.failed`; the job record keeps the exception for operators, but never the
message body, names or street lines a database error can quote; the engine hides bound
parameters and pre-pings its pool.
"""

from __future__ import annotations

import json
import uuid

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.domain import reasons
from engine.services import delivery, jobs, orders, pipeline, principals
from engine.services.pipeline import Outcome
from tests.conftest import MakeTenant, TenantHandle, order_body, recipient

#: Private things a partner put in an order; none may reach a job record or a partner error.
BODY = "Dear friend, the vault code is ZEBRA-7731."
FIRST, LAST = "Ottoline", "Quagmire"
STREET = "12 Xylophone Lane"
RETURN_NAME, RETURN_STREET = "Bartholomew Vexley", "99 Juniper Court"
PRIVATE = (BODY, "ZEBRA-7731", FIRST, LAST, STREET, "Xylophone", RETURN_NAME, RETURN_STREET)


def private_order(app: Inkwell, t: TenantHandle, recipients: int = 1) -> uuid.UUID:
    who = principals.authenticate(app, f"Bearer {t.key}")
    body = order_body(
        message_body=BODY,
        recipients=[
            recipient(first_name=FIRST, last_name=LAST, address_line1=STREET)
            for _ in range(recipients)
        ],
        return_address={
            "name": RETURN_NAME,
            "line1": RETURN_STREET,
            "city": "Austin",
            "state": "TX",
            "zip": "78701",
        },
    )
    return orders.create_order(app, who, body).order.id


def failed_event(app: Inkwell, order_id: uuid.UUID) -> tables.Event:
    with app.uow() as uow:
        [event] = uow.session.scalars(
            sa.select(tables.Event).where(
                tables.Event.order_id == order_id, tables.Event.type == "order.failed"
            )
        ).all()
        return event


def assert_nothing_private(text: str | None) -> None:
    for secret in PRIVATE:
        assert secret not in (text or ""), (secret, text)


def context(actor: str, order_id: uuid.UUID) -> jobs.JobContext:
    return jobs.JobContext(
        actor_name=actor,
        queue_name="render" if actor == "render_order" else "pipeline",
        message_id=f"msg-{uuid.uuid4().hex[:12]}",
        attempt=1,
        max_attempts=4,
        args={"order_id": str(order_id)},
    )


def test_an_address_check_failure_is_coded_in_the_order_and_in_order_failed(
    inkwell: Inkwell, make_tenant: MakeTenant, client: httpx.Client
) -> None:
    # Given a three-letter order whose recipients 0 and 2 were broken behind the API
    t = make_tenant(credits_cents=100_000)
    order_id = private_order(inkwell, t, recipients=3)
    with inkwell.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE recipients SET zip = '1234' WHERE order_id = :oid AND position = 0"),
            {"oid": order_id},
        )
        conn.execute(
            sa.text("UPDATE recipients SET state = 'ZZ' WHERE order_id = :oid AND position = 2"),
            {"oid": order_id},
        )

    # When its addresses are checked
    assert pipeline.check_addresses(inkwell, order_id) is Outcome.FAILED

    # Then the order JSON carries the code and a sentence naming each recipient's problem
    got = client.get(f"/orders/{order_id}", headers=t.headers).json()["order"]
    assert got["status"] == "failed"
    assert got["failure_code"] == "invalid_addresses"
    reason = got["failure_reason"]
    assert reason.startswith("2 of 3 recipients failed the address check. Recipient 0: ")
    assert '"1234"' in reason and "Recipient 2: " in reason and '"ZZ"' in reason
    assert "Recipient 1:" not in reason
    # And it names no one and no street
    assert_nothing_private(reason)
    # And order.failed (the webhook payload's data) carries the same code and sentence
    event = failed_event(inkwell, order_id)
    data = json.loads(delivery.payload(event))["data"]
    assert data["failure_code"] == "invalid_addresses"
    assert data["failure_reason"] == data["reason"] == reason
    assert data["order_id"] == str(order_id) and data["status"] == "failed"


def test_a_database_error_in_a_job_fails_the_order_with_a_code_and_keeps_rows_out_of_the_job_record(
    inkwell: Inkwell, make_tenant: MakeTenant, client: httpx.Client
) -> None:
    # Given an order (body, names, streets) checked and waiting to be rendered
    t = make_tenant(credits_cents=100_000)
    order_id = private_order(inkwell, t)
    assert pipeline.check_addresses(inkwell, order_id) is Outcome.DONE

    # When its render job hits a real Postgres CHECK violation on the order's row, whose
    # message quotes the whole row ("Failing row contains (…, body, …, return address …)")
    def work() -> object:
        with inkwell.uow() as uow:
            uow.session.execute(
                sa.text("UPDATE orders SET total_cents = -1 WHERE id = :oid"), {"oid": order_id}
            )
            uow.commit()
        return None

    ctx = context("render_order", order_id)
    with pytest.raises(jobs.JobFailed) as raised:
        jobs.run(inkwell, ctx, work)

    # (the database really did quote the row: that is what must be kept out)
    cause = raised.value.__cause__
    assert isinstance(cause, sa.exc.IntegrityError)
    assert "Failing row contains" in str(cause) and BODY in str(cause)

    # Then the order failed with the stage's code and sentence, shown in its JSON
    got = client.get(f"/orders/{order_id}", headers=t.headers).json()["order"]
    assert (got["failure_code"], got["failure_reason"]) == reasons.stage_failure("render_order")
    assert failed_event(inkwell, order_id).data["failure_code"] == "render_failed"
    # And the job record says what went wrong, for operators, without the row
    with inkwell.uow() as uow:
        [run] = uow.session.scalars(
            sa.select(tables.JobRun).where(tables.JobRun.message_id == ctx.message_id)
        ).all()
    assert run.outcome == "failed"
    assert run.error is not None and run.traceback is not None
    assert run.error.startswith("IntegrityError: (psycopg.errors.CheckViolation)")
    assert "total_not_negative" in run.error
    assert "Traceback" in run.traceback and "CheckViolation" in run.traceback
    for text in (run.error, run.traceback, str(raised.value)):
        assert_nothing_private(text)
        assert "[SQL:" not in text and "UPDATE orders" not in text


def test_the_engine_hides_parameters_and_pre_pings_its_pool(inkwell: Inkwell, pg_url: str) -> None:
    # Given the engine the composition root built
    engine = inkwell.engine
    assert engine.hide_parameters is True
    assert engine.pool._pre_ping is True

    # When a statement carrying a recognisable value fails on a foreign key (whose DETAIL
    # names only the key, so the value could only leak through the parameters)
    marker = "Marmaduke Threlkeld, 7 Quince Row"
    with pytest.raises(sa.exc.IntegrityError) as raised, inkwell.uow() as uow:
        uow.session.execute(
            sa.text(
                "INSERT INTO fonts (id, tenant_id, slug, name, description, category, "
                "is_default, created_at) "
                "VALUES (:id, :tenant, 'x', :name, '', 'script', false, now())"
            ),
            {"id": uuid.uuid4(), "tenant": uuid.uuid4(), "name": marker},
        )

    # Then the error names the statement but not the value
    text = str(raised.value)
    assert "ForeignKeyViolation" in text and "INSERT INTO fonts" in text
    assert "hidden due to hide_parameters=True" in text
    assert marker not in text and "Threlkeld" not in text

    # When the server drops every connection in the pool
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    with psycopg.connect(pg_url, autocommit=True) as other:
        other.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    # Then the next checkout notices and reconnects instead of failing the transaction
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != pid
