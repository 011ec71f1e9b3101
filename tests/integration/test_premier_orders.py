"""Reference 000's order fields to the letter: metadata, external_id, return address
aliases, recipient_count, estimated_letters_remaining and malformed order ids."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell, bootstrap
from engine.domain.statuses import Mode
from engine.services import events, tenants
from tests.conftest import (
    MakeTenant,
    TenantHandle,
    make_settings,
    order_body,
    recipient,
    serve,
    tenant_factory,
)
from tests.factories import extra_key


@pytest.fixture(params=["postgres", "sqlite"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Inkwell]:
    """An Inkwell whose events feed shows events at once (no settling delay)."""
    url = request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url")
    made = bootstrap(make_settings(url, tmp_path, events_settle_s=0))
    yield made
    made.close()


@pytest.fixture
def http(app: Inkwell) -> Iterator[httpx.Client]:
    with serve(app) as c:
        yield c


@pytest.fixture
def tenant(app: Inkwell) -> MakeTenant:
    return tenant_factory(app)


def _live_key(app: Inkwell, tenant_id: uuid.UUID) -> dict[str, str]:
    """A full-scope live key for the same tenant, with credits in its live wallet."""
    _, headers = extra_key(app, tenant_id, mode=Mode.LIVE, name="live")
    tenants.add_credits(app, tenant_id=tenant_id, mode=Mode.LIVE, amount_cents=100_000)
    return headers


META = {"crm_id": "c-42", "campaign": "spring"}


def test_metadata_and_external_id_are_echoed_everywhere(
    app: Inkwell, http: httpx.Client, tenant: MakeTenant
) -> None:
    t = tenant()
    # Given an order with metadata and an external id
    r = http.post("/orders", json=order_body(metadata=META, external_id="ext-1"), headers=t.headers)
    assert r.status_code == 201, r.text
    created = r.json()["order"]
    assert created["metadata"] == META and created["external_id"] == "ext-1"
    order_id = created["id"]

    # Then the detail and the list echo them
    detail = http.get(f"/orders/{order_id}", headers=t.headers).json()["order"]
    assert detail["metadata"] == META and detail["external_id"] == "ext-1"
    items = http.get("/orders", headers=t.headers).json()["orders"]
    assert [(o["metadata"], o["external_id"]) for o in items] == [(META, "ext-1")]

    # And the webhook payload's data carries them (the order.cancelled event, via the feed)
    assert http.post(f"/orders/{order_id}/cancel", headers=t.headers).status_code == 200
    feed = http.get("/events", params={"type": "order.cancelled"}, headers=t.headers).json()
    (event,) = feed["events"]
    assert event["data"]["metadata"] == META
    assert event["data"]["external_id"] == "ext-1"

    # And order_data reads the same from a row of the order's columns (what stages pass)
    orders_table = tables.table_of(tables.Order)
    with app.uow() as uow:
        row = uow.session.execute(
            sa.select(*orders_table.c).where(orders_table.c.id == uuid.UUID(order_id))
        ).one()
    data = events.order_data(row)
    assert data["metadata"] == META and data["external_id"] == "ext-1"


def test_an_order_without_metadata_echoes_an_empty_object(
    http: httpx.Client, tenant: MakeTenant
) -> None:
    t = tenant()
    r = http.post("/orders", json=order_body(), headers=t.headers)
    assert r.status_code == 201, r.text
    assert r.json()["order"]["metadata"] == {} and r.json()["order"]["external_id"] is None


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({"n": 1}, "metadata.n must be a string"),
        ({"nested": {"a": "b"}}, "metadata.nested must be a string"),
        ({f"k{i}": "v" for i in range(21)}, "at most 20 keys"),
        ({"k" * 41: "v"}, "1 to 40 characters"),
        ({"long": "v" * 501}, "at most 500 characters"),
        ({f"k{i}": "é" * 250 for i in range(20)}, "8192 bytes"),
        (["a", "b"], "metadata must be an object"),
    ],
)
def test_metadata_limits_answer_validation_error(
    http: httpx.Client, tenant: MakeTenant, metadata: object, fragment: str
) -> None:
    t = tenant()
    r = http.post("/orders", json=order_body(metadata=metadata), headers=t.headers)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "validation_error"
    problems = [d for d in body["details"] if d["field"] == "metadata"]
    assert problems and any(fragment in d["error"] for d in problems), body["details"]


def test_external_id_too_long_or_not_a_string_is_refused(
    http: httpx.Client, tenant: MakeTenant
) -> None:
    t = tenant()
    for bad in ("x" * 256, 12, ""):
        r = http.post("/orders", json=order_body(external_id=bad), headers=t.headers)
        assert r.status_code == 400, r.text
        assert [d["field"] for d in r.json()["details"]] == ["external_id"]


def test_a_duplicate_external_id_answers_409_with_the_existing_order(
    app: Inkwell, http: httpx.Client, tenant: MakeTenant
) -> None:
    t = tenant()
    first = http.post("/orders", json=order_body(external_id="dup"), headers=t.headers)
    assert first.status_code == 201, first.text
    again = http.post("/orders", json=order_body(external_id="dup"), headers=t.headers)
    assert again.status_code == 409, again.text
    assert again.json()["error"] == "duplicate_external_id"
    assert again.json()["existing_order_id"] == first.json()["order"]["id"]
    # Nothing was held for the refused order
    balance = http.get("/balance", headers=t.headers).json()
    assert balance["held_cents"] == first.json()["order"]["total_cents"]

    # Another tenant, and the same tenant's other mode, may use the same external id
    other: TenantHandle = tenant(name="Other")
    r = http.post("/orders", json=order_body(external_id="dup"), headers=other.headers)
    assert r.status_code == 201, r.text
    live = _live_key(app, t.id)
    r = http.post("/orders", json=order_body(external_id="dup"), headers=live)
    assert r.status_code == 201, r.text


def test_concurrent_duplicates_give_exactly_one_order(
    http: httpx.Client, tenant: MakeTenant
) -> None:
    t = tenant()
    statuses: list[int] = []
    bodies: list[dict[str, object]] = []
    start = threading.Barrier(8)

    def place() -> None:
        with httpx.Client(base_url=http.base_url, timeout=30) as c:
            start.wait()
            r = c.post("/orders", json=order_body(external_id="race"), headers=t.headers)
            statuses.append(r.status_code)
            bodies.append(r.json())

    threads = [threading.Thread(target=place) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(statuses) == [201] + [409] * 7, bodies
    winner = next(b for b in bodies if "order" in b)
    order = winner["order"]
    assert isinstance(order, dict)
    assert {b["existing_order_id"] for b in bodies if "order" not in b} == {order["id"]}
    listed = http.get("/orders", headers=t.headers).json()["pagination"]["total"]
    assert listed == 1


def test_return_address_accepts_001s_address_line_names(
    http: httpx.Client, tenant: MakeTenant
) -> None:
    t = tenant()
    address = {
        "name": "Acme Corp",
        "address_line1": "123 Business Blvd",
        "address_line2": "Floor 2",
        "city": "Los Angeles",
        "state": "CA",
        "zip": "90001",
    }
    r = http.post("/orders", json=order_body(return_address=address), headers=t.headers)
    assert r.status_code == 201, r.text
    detail = http.get(f"/orders/{r.json()['order']['id']}", headers=t.headers).json()["order"]
    assert detail["return_address"]["line1"] == "123 Business Blvd"
    assert detail["return_address"]["line2"] == "Floor 2"

    # The same line given both ways with different values is refused; equal values are fine
    clash = {**address, "line1": "9 Other St"}
    r = http.post("/orders", json=order_body(return_address=clash), headers=t.headers)
    assert r.status_code == 400, r.text
    assert any("line1" in d["error"] for d in r.json()["details"])
    same = {**address, "line1": "123 Business Blvd"}
    r = http.post("/orders", json=order_body(return_address=same), headers=t.headers)
    assert r.status_code == 201, r.text


def test_estimated_letters_remaining_is_balance_over_letter_price(
    http: httpx.Client, tenant: MakeTenant
) -> None:
    t = tenant(credits_cents=250_000)
    b = http.get("/balance", headers=t.headers).json()
    # 000's own numbers: 250000 // 199 = 1256 (not 250000 // (199 + 99) = 838)
    assert b["estimated_letters_remaining"] == b["balance_cents"] // b["per_letter_cost_cents"]
    if b["per_letter_cost_cents"] == 199:
        assert b["estimated_letters_remaining"] == 1256


def test_recipient_count_counts_recipients_not_letters(
    http: httpx.Client, tenant: MakeTenant
) -> None:
    t = tenant()
    # Given three recipients, one of them invalid and skipped
    body = order_body(3, skip_invalid=True)
    recipients = body["recipients"]
    assert isinstance(recipients, list)
    recipients[2] = recipient(zip="ABC")
    r = http.post("/orders", json=body, headers=t.headers)
    assert r.status_code == 201, r.text
    created = r.json()["order"]
    assert created["letter_count"] == 2 and created["recipient_count"] == 3
    order_id = created["id"]
    assert http.post(f"/orders/{order_id}/cancel", headers=t.headers).status_code == 200
    (event,) = http.get("/events", params={"type": "order.cancelled"}, headers=t.headers).json()[
        "events"
    ]
    assert event["data"]["recipient_count"] == 3
    assert event["data"]["letter_count"] == 2


def test_a_malformed_order_id_is_400_and_an_unknown_one_404(
    http: httpx.Client, tenant: MakeTenant
) -> None:
    t = tenant()
    for method, path in (("GET", "/orders/not-a-uuid"), ("POST", "/orders/not-a-uuid/cancel")):
        r = http.request(method, path, headers=t.headers)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_order_id"
    unknown = uuid.uuid4()
    for method, path in (("GET", f"/orders/{unknown}"), ("POST", f"/orders/{unknown}/cancel")):
        r = http.request(method, path, headers=t.headers)
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "not_found"
