"""The pipeline's stages, called directly, are safe to repeat and to race (DESIGN.md sections
2-4): duplicates and replays move money once and record one event; capture waits for the
cancel window; a cancel racing capture either wins or loses, never both; address problems
found behind the API's back fail the order or shrink its hold."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdf
import pytest
import sqlalchemy as sa

from engine import errors
from engine.adapters import tables
from engine.bootstrap import Inkwell, bootstrap
from engine.services import fanout, orders, pipeline, principals, wallet, webhooks
from engine.services.pipeline import Outcome
from tests.conftest import MakeTenant, TenantHandle, make_settings, order_body, recipient

ONE_LETTER_CENTS = 298  # 199 per letter + 99 per standard envelope


@pytest.fixture
def quick(pg_url: str, tmp_path: Path) -> Iterator[Inkwell]:
    """An Inkwell on the test's database whose default cancel window is 0: capture at once."""
    app = bootstrap(make_settings(pg_url, tmp_path, order_cancel_window_s=0))
    yield app
    app.close()


def principal(app: Inkwell, t: TenantHandle) -> principals.Principal:
    return principals.authenticate(app, f"Bearer {t.key}")


def create(app: Inkwell, t: TenantHandle, body: dict[str, object] | None = None) -> uuid.UUID:
    return orders.create_order(app, principal(app, t), body or order_body(1)).order.id


def load_order(app: Inkwell, order_id: uuid.UUID) -> tables.Order:
    with app.uow() as uow:
        order = uow.session.get(tables.Order, order_id)
        assert order is not None
        return order


def load_recipients(app: Inkwell, order_id: uuid.UUID) -> list[tables.Recipient]:
    with app.uow() as uow:
        return orders.recipients_of(uow.session, order_id)


def ledger(app: Inkwell, order_id: uuid.UUID) -> list[tables.LedgerEntry]:
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(tables.LedgerEntry)
                .where(tables.LedgerEntry.order_id == order_id)
                .order_by(tables.LedgerEntry.created_at, tables.LedgerEntry.kind)
            )
        )


def kinds(app: Inkwell, order_id: uuid.UUID) -> list[str]:
    return sorted(e.kind for e in ledger(app, order_id))


def order_events(app: Inkwell, order_id: uuid.UUID, type_: str) -> list[tables.Event]:
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(tables.Event).where(
                    tables.Event.order_id == order_id, tables.Event.type == type_
                )
            )
        )


def outbox_rows(app: Inkwell, actor: str, **args: object) -> list[tables.OutboxMessage]:
    o = tables.OutboxMessage
    where = [o.actor_name == actor]
    for name, value in args.items():
        where.append(o.args[name].as_string() == str(value))
    with app.uow() as uow:
        return list(uow.session.scalars(sa.select(o).where(*where).order_by(o.created_at)))


def deliveries_of(app: Inkwell, event_id: uuid.UUID) -> list[tables.WebhookDelivery]:
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(tables.WebhookDelivery).where(tables.WebhookDelivery.event_id == event_id)
            )
        )


def held_and_balance(app: Inkwell, t: TenantHandle) -> tuple[int, int]:
    with app.uow() as uow:
        w = wallet.get_wallet(uow.session, t.id, "test")
        return w.held_cents, w.balance_cents


def assert_ledger_ok(app: Inkwell) -> None:
    with app.uow() as uow:
        checks = wallet.check_ledger(uow.session)
    assert checks and all(c.ok for c in checks), checks


def register_endpoint(app: Inkwell, t: TenantHandle, port: int) -> uuid.UUID:
    endpoint, _secret = webhooks.create_endpoint(
        app, principal(app, t), {"url": f"http://127.0.0.1:{port}/hooks", "events": ["*"]}
    )
    return endpoint.id


def test_happy_path_takes_the_order_to_processing_with_one_pdf_per_letter(
    quick: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a tenant with one webhook endpoint and a pending order for two named recipients
    t = make_tenant(credits_cents=10_000)
    endpoint_id = register_endpoint(quick, t, 9)
    body = order_body(
        2,
        message_body="Dear {{first_name}},\n\nThanks from {{company}}!\n\nBest regards",
        recipients=[
            recipient(first_name="Wilhelmina", last_name="Quill"),
            recipient(first_name="Bartholomew", last_name="Inkpot"),
        ],
    )
    order_id = create(quick, t, body)

    # When every stage runs once, in order, and the confirmation is fanned out
    assert pipeline.check_addresses(quick, order_id) is Outcome.DONE
    assert pipeline.render_order(quick, order_id) is Outcome.DONE
    assert pipeline.capture_order(quick, order_id) is Outcome.DONE
    confirmed = order_events(quick, order_id, "order.in_production")
    assert len(confirmed) == 1
    assert fanout.fan_out(quick, confirmed[0].id) == 1

    # Then the order is processing at stage captured, confirmed once
    order = load_order(quick, order_id)
    assert order.status == "processing"
    assert order.stage == "captured"
    assert order.confirmed_at is not None
    assert confirmed[0].data["order_id"] == str(order_id)
    assert confirmed[0].data["status"] == "processing"
    # And the money moved once: one hold, one capture of the whole price, nothing held
    entries = ledger(quick, order_id)
    assert sorted(e.kind for e in entries) == ["capture", "hold"]
    capture = next(e for e in entries if e.kind == "capture")
    assert capture.amount_cents == 2 * ONE_LETTER_CENTS
    assert capture.key == f"order:{order_id}:capture"
    assert held_and_balance(quick, t) == (0, 10_000 - 2 * ONE_LETTER_CENTS)
    assert_ledger_ok(quick)
    # And the endpoint got exactly one delivery of the confirmation
    sent = deliveries_of(quick, confirmed[0].id)
    assert [(d.endpoint_id, d.event_type, d.status) for d in sent] == [
        (endpoint_id, "order.in_production", "pending")
    ]
    # And each recipient has one readable US Letter PDF under STORAGE_DIR with its name merged
    storage = Path(quick.settings.storage_dir)
    letters = load_recipients(quick, order_id)
    assert [r.status for r in letters] == ["rendered", "rendered"]
    assert len(list((storage / "orders" / str(order_id)).glob("*.pdf"))) == 2
    for r in letters:
        assert r.pdf_path is not None
        path = storage / r.pdf_path
        assert path.is_file() and path.resolve().is_relative_to(storage.resolve())
        reader = pypdf.PdfReader(path)
        assert len(reader.pages) >= 1
        page = reader.pages[0]
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (
            612,
            792,
        )
        text = "\n".join(p.extract_text() for p in reader.pages)
        assert f"Dear {r.first_name}," in text
        assert "Thanks from Acme Inc!" in text
        assert r.last_name is not None and r.last_name in text  # the address block
        assert "{{" not in text and "}}" not in text


def test_every_stage_twice_and_a_full_replay_move_money_once(
    quick: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a tenant with two webhook endpoints and a pending one-letter order
    t = make_tenant(credits_cents=10_000)
    endpoints = {register_endpoint(quick, t, 9), register_endpoint(quick, t, 10)}
    order_id = create(quick, t)

    # When every stage is run twice in a row (a duplicated message) …
    assert pipeline.check_addresses(quick, order_id) is Outcome.DONE
    assert pipeline.check_addresses(quick, order_id) is Outcome.SKIPPED
    assert pipeline.render_order(quick, order_id) is Outcome.DONE
    assert pipeline.render_order(quick, order_id) is Outcome.SKIPPED
    assert pipeline.capture_order(quick, order_id) is Outcome.DONE
    assert pipeline.capture_order(quick, order_id) is Outcome.SKIPPED
    [event] = order_events(quick, order_id, "order.in_production")
    assert fanout.fan_out(quick, event.id) == 2
    assert fanout.fan_out(quick, event.id) == 0
    # … and then every stage is replayed again, in order, after the order completed
    replayed = [
        pipeline.check_addresses(quick, order_id),
        pipeline.render_order(quick, order_id),
        pipeline.capture_order(quick, order_id),
    ]
    fanned_again = fanout.fan_out(quick, event.id)

    # Then the replays did nothing
    assert replayed == [Outcome.SKIPPED, Outcome.SKIPPED, Outcome.SKIPPED]
    assert fanned_again == 0
    # And there is exactly one capture, one confirmation and one delivery per endpoint
    assert kinds(quick, order_id) == ["capture", "hold"]
    assert len(order_events(quick, order_id, "order.in_production")) == 1
    sent = deliveries_of(quick, event.id)
    assert sorted(d.endpoint_id for d in sent) == sorted(endpoints)
    # And no duplicate started a second copy of the next job
    assert len(outbox_rows(quick, "render_order", order_id=order_id)) == 1
    assert len(outbox_rows(quick, "capture_order", order_id=order_id)) == 1
    assert len(outbox_rows(quick, "fan_out_event", event_id=event.id)) == 1
    assert len(outbox_rows(quick, "deliver_webhook")) == 2
    order = load_order(quick, order_id)
    assert (order.status, order.stage) == ("processing", "captured")
    assert held_and_balance(quick, t) == (0, 10_000 - ONE_LETTER_CENTS)
    assert_ledger_ok(quick)


def test_capture_before_cancellable_until_is_deferred_and_keeps_the_hold(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an order inside its 5-minute cancel window, checked and rendered
    t = make_tenant(credits_cents=10_000)
    order_id = create(inkwell, t)
    assert pipeline.check_addresses(inkwell, order_id) is Outcome.DONE
    assert pipeline.render_order(inkwell, order_id) is Outcome.DONE
    before = load_order(inkwell, order_id)
    assert before.cancellable_until > datetime.now(UTC) + timedelta(seconds=200)

    # When capture runs early (a replay, or a clock ahead of ours)
    outcome = pipeline.capture_order(inkwell, order_id)

    # Then it is deferred: still pending at rendered, the money still only held
    assert outcome is Outcome.DEFERRED
    order = load_order(inkwell, order_id)
    assert (order.status, order.stage, order.confirmed_at) == ("pending", "rendered", None)
    assert kinds(inkwell, order_id) == ["hold"]
    assert held_and_balance(inkwell, t) == (ONE_LETTER_CENTS, 10_000)
    assert order_events(inkwell, order_id, "order.in_production") == []
    # And capture is enqueued again for when the window closes
    later = outbox_rows(inkwell, "capture_order", order_id=order_id)
    assert len(later) == 2
    assert all(row.available_at == before.cancellable_until for row in later)
    assert_ledger_ok(inkwell)


def test_cancel_racing_capture_either_wins_or_loses_never_both(
    quick: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given 20 orders, each checked and rendered and due for capture
    t = make_tenant(credits_cents=100_000)
    who = principal(quick, t)
    order_ids = [create(quick, t) for _ in range(20)]
    for order_id in order_ids:
        assert pipeline.check_addresses(quick, order_id) is Outcome.DONE
        assert pipeline.render_order(quick, order_id) is Outcome.DONE
    rng = random.Random(3)

    # When, for each order, cancel and capture run at the same moment on two threads
    def race(order_id: uuid.UUID) -> tuple[str, Outcome]:
        gate = threading.Barrier(2)
        # A little jitter on alternating sides, so both sides get to win sometimes
        jitter = rng.uniform(0, 0.004)

        def cancel() -> str:
            gate.wait()
            if order_ids.index(order_id) % 2:
                time.sleep(jitter)
            try:
                orders.cancel_order(quick, who, order_id)
            except errors.NotCancellable:
                return "refused"
            return "cancelled"

        def capture() -> Outcome:
            gate.wait()
            if not order_ids.index(order_id) % 2:
                time.sleep(jitter)
            return pipeline.capture_order(quick, order_id)

        with ThreadPoolExecutor(2) as pool:
            cancelled = pool.submit(cancel)
            captured = pool.submit(capture)
            return cancelled.result(timeout=30), captured.result(timeout=30)

    results = {order_id: race(order_id) for order_id in order_ids}

    # Then each order ended exactly one way
    tally: dict[str, int] = {"cancelled": 0, "processing": 0}
    for order_id, (cancel_result, capture_result) in results.items():
        order = load_order(quick, order_id)
        entries = kinds(quick, order_id)
        confirmed = order_events(quick, order_id, "order.in_production")
        cancelled_events = order_events(quick, order_id, "order.cancelled")
        if cancel_result == "cancelled":
            # the cancel won: hold released, nothing captured, nothing confirmed
            assert capture_result is Outcome.SKIPPED, (order_id, capture_result)
            assert order.status == "cancelled"
            assert entries == ["hold", "release"]
            assert confirmed == [] and len(cancelled_events) == 1
        else:
            # the capture won: the cancel was refused (409 not_cancellable)
            assert capture_result is Outcome.DONE, (order_id, capture_result)
            assert order.status == "processing"
            assert entries == ["capture", "hold"]
            assert len(confirmed) == 1 and cancelled_events == []
        tally[order.status] += 1
    assert sum(tally.values()) == 20
    held, balance = held_and_balance(quick, t)
    assert held == 0
    assert balance == 100_000 - tally["processing"] * ONE_LETTER_CENTS
    assert_ledger_ok(quick)
    print(f"\ncancel vs capture: {tally}")


def test_recipient_made_invalid_behind_the_api_fails_the_order(
    quick: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a pending one-letter order whose ZIP was broken by a raw UPDATE after acceptance
    t = make_tenant(credits_cents=10_000)
    order_id = create(quick, t)
    with quick.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE recipients SET zip = 'ABC' WHERE order_id = :oid"), {"oid": order_id}
        )

    # When the addresses are checked
    outcome = pipeline.check_addresses(quick, order_id)

    # Then the order fails with a reason naming the field and the bad value
    assert outcome is Outcome.FAILED
    order = load_order(quick, order_id)
    assert order.status == "failed"
    assert order.failure_reason is not None
    assert "zip" in order.failure_reason.lower() and '"ABC"' in order.failure_reason
    assert order.failed_stage == "received" and order.failed_at is not None
    [letter] = load_recipients(quick, order_id)
    assert letter.status == "invalid"
    assert letter.invalid_reason is not None and "ABC" in letter.invalid_reason
    # And its hold is released in full, and order.failed is recorded once
    entries = ledger(quick, order_id)
    assert sorted(e.kind for e in entries) == ["hold", "release"]
    release = next(e for e in entries if e.kind == "release")
    assert release.amount_cents == ONE_LETTER_CENTS
    assert held_and_balance(quick, t) == (0, 10_000)
    [failed] = order_events(quick, order_id, "order.failed")
    assert failed.data["status"] == "failed"
    assert "ABC" in failed.data["reason"]
    # And nothing goes on to render, and a repeat of the stage changes nothing
    assert outbox_rows(quick, "render_order", order_id=order_id) == []
    assert pipeline.check_addresses(quick, order_id) is Outcome.SKIPPED
    assert kinds(quick, order_id) == ["hold", "release"]
    assert_ledger_ok(quick)


def test_skip_invalid_goes_on_with_the_valid_letters_and_shrinks_the_hold(
    quick: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a skip_invalid order for two recipients; the second's ZIP broken behind the API
    t = make_tenant(credits_cents=10_000)
    order_id = create(quick, t, order_body(2, skip_invalid=True))
    assert held_and_balance(quick, t) == (2 * ONE_LETTER_CENTS, 10_000)
    with quick.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE recipients SET zip = 'ABC' WHERE order_id = :oid AND position = 1"),
            {"oid": order_id},
        )

    # When the addresses are checked
    outcome = pipeline.check_addresses(quick, order_id)

    # Then the order goes on with one letter at the one-letter price
    assert outcome is Outcome.DONE
    order = load_order(quick, order_id)
    assert (order.status, order.stage) == ("pending", "addresses_checked")
    assert order.letter_count == 1
    assert order.total_cents == ONE_LETTER_CENTS
    assert [r.status for r in load_recipients(quick, order_id)] == ["pending", "invalid"]
    # And the hold shrank by a release of the difference
    entries = ledger(quick, order_id)
    assert sorted(e.kind for e in entries) == ["hold", "release"]
    release = next(e for e in entries if e.kind == "release")
    assert release.amount_cents == ONE_LETTER_CENTS
    assert release.held_delta_cents == -ONE_LETTER_CENTS and release.balance_delta_cents == 0
    assert held_and_balance(quick, t) == (ONE_LETTER_CENTS, 10_000)
    assert_ledger_ok(quick)

    # When the rest of the pipeline runs
    assert pipeline.render_order(quick, order_id) is Outcome.DONE
    assert pipeline.capture_order(quick, order_id) is Outcome.DONE

    # Then only the valid letter was rendered and only its price was captured
    assert [r.status for r in load_recipients(quick, order_id)] == ["rendered", "invalid"]
    capture = next(e for e in ledger(quick, order_id) if e.kind == "capture")
    assert capture.amount_cents == ONE_LETTER_CENTS
    assert held_and_balance(quick, t) == (0, 10_000 - ONE_LETTER_CENTS)
    [confirmed] = order_events(quick, order_id, "order.in_production")
    assert confirmed.data["letter_count"] == 1
    assert_ledger_ok(quick)


def test_send_date_sets_cancellable_until_and_holds_capture_back(
    quick: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a tenant whose cancel window is 0
    t = make_tenant(credits_cents=10_000)
    send_date = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)

    # When it orders with a send_date two days ahead
    order_id = create(quick, t, order_body(1, send_date=send_date.isoformat()))

    # Then the order can be cancelled until the send_date
    order = load_order(quick, order_id)
    assert order.send_date == send_date
    assert order.cancellable_until == send_date
    # And checking and rendering run at once, but capture waits for the send_date
    assert pipeline.check_addresses(quick, order_id) is Outcome.DONE
    assert pipeline.render_order(quick, order_id) is Outcome.DONE
    capture_rows: list[Any] = outbox_rows(quick, "capture_order", order_id=order_id)
    assert [row.available_at for row in capture_rows] == [send_date]
    assert pipeline.capture_order(quick, order_id) is Outcome.DEFERRED
    assert kinds(quick, order_id) == ["hold"]
    assert load_order(quick, order_id).status == "pending"
