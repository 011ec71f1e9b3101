"""Cancelling an order gives its credits back exactly once, whatever the timing (DESIGN.md
sections 2 and 4): a second cancel, a cancel racing other cancels, and a cancel of an order the
pipeline has already moved past pending all answer 409 `not_cancellable` and move no money."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import wallet
from tests.conftest import MakeTenant, TenantHandle
from tests.factories import place_order

ONE_LETTER_CENTS = 298


def available(client: httpx.Client, t: TenantHandle) -> int:
    r = client.get("/balance", headers=t.headers)
    assert r.status_code == 200, r.text
    return int(r.json()["balance_cents"])


def ledger_entries(app: Inkwell, order_id: str, kind: str) -> list[tables.LedgerEntry]:
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(tables.LedgerEntry).where(
                    tables.LedgerEntry.order_id == uuid.UUID(order_id),
                    tables.LedgerEntry.kind == kind,
                )
            )
        )


def recipient_statuses(client: httpx.Client, t: TenantHandle, order_id: str) -> list[str]:
    r = client.get(f"/orders/{order_id}", headers=t.headers)
    assert r.status_code == 200, r.text
    return [rec["status"] for rec in r.json()["order"]["recipients"]]


def assert_not_cancellable(r: httpx.Response) -> None:
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "not_cancellable", body
    assert body["message"].strip() and body["suggestion"].strip(), body


def assert_wallet_matches_ledger(app: Inkwell, tenant_id: uuid.UUID) -> None:
    with app.uow() as uow:
        w = wallet.get_wallet(uow.session, tenant_id, "test")
        checks = wallet.check_ledger(uow.session, w.id)
    assert len(checks) == 1
    assert checks[0].ok, checks[0]


def test_cancel_pending_order_restores_balance(
    any_inkwell: Inkwell, any_client: httpx.Client, any_make_tenant: MakeTenant
) -> None:
    # Given a tenant with $10.00 and a pending two-letter order holding 2 x $2.98
    t = any_make_tenant(credits_cents=1000)
    order = place_order(any_client, t.headers, n=2)
    assert order["status"] == "pending"
    assert available(any_client, t) == 1000 - 2 * ONE_LETTER_CENTS

    # When the partner cancels it
    r = any_client.post(f"/orders/{order['id']}/cancel", headers=t.headers)

    # Then the order is cancelled, the whole hold is released by one ledger entry,
    # every recipient is cancelled, and the wallet still equals its ledger
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["order"]["id"] == order["id"]
    assert body["order"]["status"] == "cancelled"
    assert body["order"]["cancelled_at"]
    assert body["balance_cents"] == 1000
    assert available(any_client, t) == 1000
    releases = ledger_entries(any_inkwell, order["id"], "release")
    assert len(releases) == 1
    assert releases[0].amount_cents == 2 * ONE_LETTER_CENTS
    assert releases[0].held_delta_cents == -2 * ONE_LETTER_CENTS
    assert releases[0].balance_delta_cents == 0
    assert recipient_statuses(any_client, t, order["id"]) == ["cancelled", "cancelled"]
    detail = any_client.get(f"/orders/{order['id']}", headers=t.headers).json()["order"]
    assert detail["status"] == "cancelled"
    assert_wallet_matches_ledger(any_inkwell, t.id)


def test_cancel_twice_refunds_once(
    inkwell: Inkwell, client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a pending order that has just been cancelled
    t = make_tenant(credits_cents=1000)
    order = place_order(client, t.headers)
    assert order["status"] == "pending"
    first = client.post(f"/orders/{order['id']}/cancel", headers=t.headers)
    assert first.status_code == 200, first.text

    # When the partner cancels the cancelled order again
    second = client.post(f"/orders/{order['id']}/cancel", headers=t.headers)

    # Then it answers 409 not_cancellable and no second refund is made
    assert_not_cancellable(second)
    assert len(ledger_entries(inkwell, order["id"], "release")) == 1
    assert available(client, t) == 1000
    assert recipient_statuses(client, t, order["id"]) == ["cancelled"]
    assert_wallet_matches_ledger(inkwell, t.id)


def test_ten_concurrent_cancels_refund_once(
    inkwell: Inkwell, client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a pending order holding $2.98 of a $10.00 wallet
    t = make_tenant(credits_cents=1000)
    order = place_order(client, t.headers)
    assert order["status"] == "pending"
    url = str(client.base_url).rstrip("/") + f"/orders/{order['id']}/cancel"
    start = threading.Barrier(10)

    # When ten clients cancel it at the same moment
    def cancel(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as c:
            start.wait(timeout=30)
            return c.post(url, headers=t.headers)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(cancel, range(10)))

    # Then exactly one wins, nine are told it is not cancellable, and the money moved once
    assert Counter(r.status_code for r in answers) == {200: 1, 409: 9}, [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            assert_not_cancellable(r)
        else:
            assert r.json()["order"]["status"] == "cancelled"
            assert r.json()["balance_cents"] == 1000
    assert len(ledger_entries(inkwell, order["id"], "release")) == 1
    assert available(client, t) == 1000
    assert_wallet_matches_ledger(inkwell, t.id)


def test_processing_order_is_not_cancellable(
    inkwell: Inkwell, client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given an order the pipeline has moved on to processing (its hold still in place)
    t = make_tenant(credits_cents=1000)
    order = place_order(client, t.headers)
    assert order["status"] == "pending"
    with inkwell.engine.begin() as conn:
        moved = conn.execute(
            sa.update(tables.Order)
            .where(tables.Order.id == uuid.UUID(order["id"]))
            .values(status="processing")
        )
        assert moved.rowcount == 1

    # When the partner tries to cancel it
    r = client.post(f"/orders/{order['id']}/cancel", headers=t.headers)

    # Then it answers 409 not_cancellable, and nothing changed: no release, the hold stands,
    # the order stays processing and its recipients are not cancelled
    assert_not_cancellable(r)
    assert ledger_entries(inkwell, order["id"], "release") == []
    assert available(client, t) == 1000 - ONE_LETTER_CENTS
    detail = client.get(f"/orders/{order['id']}", headers=t.headers).json()["order"]
    assert detail["status"] == "processing"
    assert detail["cancelled_at"] is None
    assert recipient_statuses(client, t, order["id"]) == ["pending"]
    assert_wallet_matches_ledger(inkwell, t.id)
