"""The webhook endpoint API over real HTTP (no worker processes): CRUD shapes as in reference
000, validation, private targets refused, tenant isolation, scopes, and the events feed."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.domain.scopes import ALL_SCOPES
from engine.services import fanout
from tests.conftest import MakeTenant, TenantHandle, order_body
from tests.factories import extra_key

HOOK_URL = "https://partner.example.com/hooks/inkwell"
LIST_FIELDS = {"id", "url", "events", "is_active", "failure_count", "created_at"}
NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"


def create_hook(client: httpx.Client, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = client.post("/webhooks", json={"url": HOOK_URL, "events": ["*"], **body}, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json()["webhook"])


def cancelled_order(client: httpx.Client, headers: dict[str, str]) -> str:
    """An order placed and cancelled at once (recording one order.cancelled event)."""
    r = client.post("/orders", json=order_body(1), headers=headers)
    assert r.status_code == 201, r.text
    order_id = str(r.json()["order"]["id"])
    cancel = client.post(f"/orders/{order_id}/cancel", headers=headers)
    assert cancel.status_code == 200, cancel.text
    return order_id


def assert_invalid(r: httpx.Response, field: str) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "validation_error", body
    assert field in [p["field"] for p in body["details"]], body


def events_of(
    client: httpx.Client, headers: dict[str, str], want: int, **params: str
) -> dict[str, Any]:
    """GET /events once at least `want` events show (they settle for EVENTS_SETTLE_S)."""
    deadline = time.monotonic() + 10
    while True:
        r = client.get("/events", params=params, headers=headers)
        assert r.status_code == 200, r.text
        if len(r.json()["events"]) >= want or time.monotonic() > deadline:
            return dict(r.json())
        time.sleep(0.2)


# --- create, list, get, update, delete, rotate -------------------------------------------


def test_create_shows_the_secret_once_and_list_and_get_never_do(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a tenant
    t = make_tenant()

    # When it registers an endpoint for two events
    r = client.post(
        "/webhooks",
        json={"url": HOOK_URL, "events": ["order.confirmed", "order.completed"]},
        headers=t.headers,
    )

    # Then the answer has the reference's shape, with a whsec_ secret and a message
    assert r.status_code == 201, r.text
    created = r.json()
    assert "message" in created and "secret" in created["message"].lower()
    hook = created["webhook"]
    assert hook["url"] == HOOK_URL
    assert sorted(hook["events"]) == ["order.completed", "order.confirmed"]
    assert hook["is_active"] is True
    assert hook["failure_count"] == 0
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > len("whsec_") + 16
    uuid.UUID(hook["id"])
    assert hook["created_at"]

    # And the list and the single read show the same endpoint without its secret
    listed = client.get("/webhooks", headers=t.headers)
    assert listed.status_code == 200, listed.text
    items = listed.json()["webhooks"]
    assert [i["id"] for i in items] == [hook["id"]]
    assert set(items[0]) >= LIST_FIELDS
    assert "secret" not in items[0] and "previous_secret" not in items[0]
    got = client.get(f"/webhooks/{hook['id']}", headers=t.headers)
    assert got.status_code == 200, got.text
    one = got.json()["webhook"]
    assert "secret" not in one
    assert {k: one[k] for k in LIST_FIELDS} == {k: hook[k] for k in LIST_FIELDS}


def test_events_default_to_all_and_an_unknown_id_is_404(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a tenant
    t = make_tenant()

    # When it registers an endpoint without naming events
    r = client.post("/webhooks", json={"url": HOOK_URL}, headers=t.headers)

    # Then it is subscribed to everything
    assert r.status_code == 201, r.text
    assert r.json()["webhook"]["events"] == ["*"]
    # And ids that are not its endpoints are 404 not_found
    for path in (f"/webhooks/{NO_SUCH_ID}", "/webhooks/not-a-uuid"):
        missing = client.get(path, headers=t.headers)
        assert missing.status_code == 404, missing.text
        assert missing.json()["error"] == "not_found"


def test_put_updates_url_events_and_is_active(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given an endpoint for order.confirmed
    t = make_tenant()
    hook = create_hook(client, t.headers, events=["order.confirmed"])

    # When the partner changes its url and events
    r = client.put(
        f"/webhooks/{hook['id']}",
        json={"url": "https://other.example.com/in", "events": ["order.shipped", "letter.mailed"]},
        headers=t.headers,
    )

    # Then both change and nothing else does; no secret is shown
    assert r.status_code == 200, r.text
    updated = r.json()["webhook"]
    assert updated["url"] == "https://other.example.com/in"
    assert sorted(updated["events"]) == ["letter.mailed", "order.shipped"]
    assert updated["is_active"] is True
    assert updated["id"] == hook["id"] and updated["created_at"] == hook["created_at"]
    assert "secret" not in updated

    # When it switches the endpoint off and on again with is_active
    off = client.put(f"/webhooks/{hook['id']}", json={"is_active": False}, headers=t.headers)
    assert off.status_code == 200, off.text
    assert off.json()["webhook"]["is_active"] is False
    on = client.put(f"/webhooks/{hook['id']}", json={"is_active": True}, headers=t.headers)

    # Then the change is kept and readable
    assert on.status_code == 200, on.text
    got = client.get(f"/webhooks/{hook['id']}", headers=t.headers).json()["webhook"]
    assert got["is_active"] is True
    assert got["url"] == "https://other.example.com/in"


def test_delete_deactivates_but_keeps_the_endpoint_readable(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given an endpoint
    t = make_tenant()
    hook = create_hook(client, t.headers)

    # When the partner deletes it
    r = client.delete(f"/webhooks/{hook['id']}", headers=t.headers)

    # Then it answers with the deactivated endpoint
    assert r.status_code == 200, r.text
    assert r.json()["webhook"] == {"id": hook["id"], "is_active": False}
    assert r.json()["message"]
    # And it is still listed and readable, inactive
    got = client.get(f"/webhooks/{hook['id']}", headers=t.headers)
    assert got.status_code == 200, got.text
    assert got.json()["webhook"]["is_active"] is False
    listed = client.get("/webhooks", headers=t.headers).json()["webhooks"]
    assert [(i["id"], i["is_active"]) for i in listed] == [(hook["id"], False)]


def test_rotate_secret_shows_a_new_secret_and_its_overlap(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given an endpoint and its secret
    t = make_tenant()
    r = client.post("/webhooks", json={"url": HOOK_URL}, headers=t.headers)
    hook = r.json()["webhook"]

    # When the partner rotates the secret
    rotated = client.post(f"/webhooks/{hook['id']}/rotate-secret", headers=t.headers)

    # Then the answer carries a new whsec_ secret and when the old one stops signing
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["webhook"]["secret"].startswith("whsec_")
    assert body["webhook"]["secret"] != hook["secret"]
    expires = datetime.fromisoformat(body["previous_secret_expires_at"].replace("Z", "+00:00"))
    overlap = expires - datetime.now(UTC)
    assert timedelta(hours=23, minutes=59) < overlap <= timedelta(hours=24, seconds=1), overlap
    # And reads after it still never show a secret
    got = client.get(f"/webhooks/{hook['id']}", headers=t.headers).json()["webhook"]
    assert "secret" not in got
    assert got["previous_secret_expires_at"] == body["previous_secret_expires_at"]


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["order.confirmed"]}, "url"),
        ({"url": "ftp://partner.example.com/hooks", "events": ["*"]}, "url"),
        ({"url": "javascript:alert(1)", "events": ["*"]}, "url"),
        ({"url": HOOK_URL, "events": ["order.exploded"]}, "events"),
        ({"url": HOOK_URL, "events": []}, "events"),
        ({"url": HOOK_URL, "events": "order.confirmed"}, "events"),
        ({"url": HOOK_URL, "events": ["*"], "secret": "whsec_mine"}, "secret"),
    ],
    ids=[
        "missing url",
        "ftp url",
        "javascript url",
        "unknown event",
        "empty events",
        "events not a list",
        "unknown field",
    ],
)
def test_create_refuses_bad_bodies_naming_the_field(
    client: httpx.Client, make_tenant: MakeTenant, body: dict[str, Any], field: str
) -> None:
    # Given a tenant
    t = make_tenant()

    # When it registers an endpoint with a bad body
    r = client.post("/webhooks", json=body, headers=t.headers)

    # Then it answers 400 validation_error naming the field, and nothing is created
    assert_invalid(r, field)
    assert client.get("/webhooks", headers=t.headers).json()["webhooks"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"url": "ftp://partner.example.com/hooks"}, "url"),
        ({"events": ["order.exploded"]}, "events"),
        ({"events": []}, "events"),
        ({"is_active": "yes"}, "is_active"),
    ],
    ids=["no fields", "ftp url", "unknown event", "empty events", "is_active not bool"],
)
def test_put_refuses_bad_bodies_naming_the_field(
    client: httpx.Client, make_tenant: MakeTenant, body: dict[str, Any], field: str
) -> None:
    # Given an endpoint
    t = make_tenant()
    hook = create_hook(client, t.headers)

    # When the partner sends a bad update
    r = client.put(f"/webhooks/{hook['id']}", json=body, headers=t.headers)

    # Then it answers 400 naming the field, and the endpoint is unchanged
    assert_invalid(r, field)
    got = client.get(f"/webhooks/{hook['id']}", headers=t.headers).json()["webhook"]
    assert (got["url"], got["events"], got["is_active"]) == (HOOK_URL, ["*"], True)


# --- private targets ----------------------------------------------------------------------


PRIVATE_URLS = [
    "http://127.0.0.1/",
    "http://10.0.0.5/",
    "http://169.254.169.254/latest",
    "http://[::1]/",
    "http://localhost/",
    "http://192.168.1.20:8080/hooks",
    "http://[::ffff:10.0.0.5]/",
    "http://metadata.google.internal/computeMetadata/v1/",
]


def test_private_targets_are_refused_when_not_allowed(
    strict_client: tuple[httpx.Client, dict[str, str]],
) -> None:
    c, headers = strict_client
    for url in PRIVATE_URLS:
        # Given private targets are not allowed
        # When a tenant registers an endpoint on a private, loopback or metadata address
        r = c.post("/webhooks", json={"url": url, "events": ["*"]}, headers=headers)

        # Then it is refused with the url field named
        assert_invalid(r, "url")
    # And none of them was created
    assert c.get("/webhooks", headers=headers).json()["webhooks"] == []

    # And a public address is accepted, but cannot be moved to a private one with PUT
    public = c.post("/webhooks", json={"url": "http://93.184.215.14/hooks"}, headers=headers)
    assert public.status_code == 201, public.text
    hook_id = public.json()["webhook"]["id"]
    for url in PRIVATE_URLS:
        moved = c.put(f"/webhooks/{hook_id}", json={"url": url}, headers=headers)
        assert_invalid(moved, "url")
    got = c.get(f"/webhooks/{hook_id}", headers=headers).json()["webhook"]
    assert got["url"] == "http://93.184.215.14/hooks"


# --- tenant isolation ---------------------------------------------------------------------


def a_delivery(inkwell: Inkwell, tenant: TenantHandle) -> str:
    """Fan out the tenant's (single) event as the worker would; the new delivery's id."""
    with inkwell.uow() as uow:
        event_id = uow.session.scalar(
            sa.select(tables.Event.id).where(tables.Event.tenant_id == tenant.id)
        )
    assert event_id is not None
    assert fanout.fan_out(inkwell, event_id) == 1
    with inkwell.uow() as uow:
        delivery_id = uow.session.scalar(
            sa.select(tables.WebhookDelivery.id).where(tables.WebhookDelivery.event_id == event_id)
        )
    return str(delivery_id)


def test_another_tenants_webhooks_and_logs_are_404_and_never_listed(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given tenant A with an endpoint, an event and a delivery of it, and tenant B
    a = make_tenant(name="A")
    b = make_tenant(name="B")
    hook = create_hook(client, a.headers)
    order_id = cancelled_order(client, a.headers)
    log_id = a_delivery(inkwell, a)
    mine = create_hook(client, b.headers, url="https://b.example.com/hooks")

    # When B reaches for A's endpoint and delivery by id
    h = hook["id"]
    answers = {
        "GET webhook": client.get(f"/webhooks/{h}", headers=b.headers),
        "PUT webhook": client.put(
            f"/webhooks/{h}", json={"url": "https://evil.example.com/"}, headers=b.headers
        ),
        "DELETE webhook": client.delete(f"/webhooks/{h}", headers=b.headers),
        "rotate": client.post(f"/webhooks/{h}/rotate-secret", headers=b.headers),
        "reactivate": client.post(f"/webhooks/{h}/reactivate", headers=b.headers),
        "deliveries": client.get(f"/webhooks/{h}/deliveries", headers=b.headers),
        "logs by webhook": client.get("/webhook-logs", params={"webhook_id": h}, headers=b.headers),
        "GET log": client.get(f"/webhook-logs/{log_id}", headers=b.headers),
        "retry log": client.post(f"/webhook-logs/{log_id}/retry", headers=b.headers),
        "resend": client.post(
            "/webhooks/resend",
            json={"order_id": order_id, "event": "order.cancelled"},
            headers=b.headers,
        ),
    }

    # Then every one is 404 not_found
    for what, r in answers.items():
        assert r.status_code == 404, (what, r.text)
        assert r.json()["error"] == "not_found", (what, r.text)
    # And B's lists show only B's rows
    b_hooks = client.get("/webhooks", headers=b.headers).json()["webhooks"]
    assert [x["id"] for x in b_hooks] == [mine["id"]]
    assert client.get("/webhook-logs", headers=b.headers).json()["deliveries"] == []
    a_events = events_of(client, a.headers, 1)["events"]
    assert {e["data"]["order_id"] for e in a_events} == {order_id}
    b_events = client.get("/events", headers=b.headers)
    assert b_events.status_code == 200 and b_events.json()["events"] == []
    foreign_cursor = client.get("/events", params={"after": a_events[0]["id"]}, headers=b.headers)
    assert foreign_cursor.status_code == 404, foreign_cursor.text
    # And A's endpoint and delivery are untouched and visible to A
    got = client.get(f"/webhooks/{h}", headers=a.headers).json()["webhook"]
    assert (got["url"], got["is_active"]) == (HOOK_URL, True)
    a_logs = client.get("/webhook-logs", headers=a.headers).json()
    assert [d["id"] for d in a_logs["deliveries"]] == [log_id]
    assert a_logs["deliveries"][0]["status"] == "pending"
    assert a_logs["pagination"]["total"] == 1


# --- scopes -------------------------------------------------------------------------------


def webhook_calls(hook_id: str, log_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", "/webhooks", None),
        ("POST", "/webhooks", {"url": HOOK_URL, "events": ["*"]}),
        ("GET", f"/webhooks/{hook_id}", None),
        ("PUT", f"/webhooks/{hook_id}", {"is_active": False}),
        ("DELETE", f"/webhooks/{hook_id}", None),
        ("POST", f"/webhooks/{hook_id}/rotate-secret", None),
        ("POST", f"/webhooks/{hook_id}/reactivate", None),
        ("GET", f"/webhooks/{hook_id}/deliveries", None),
        ("POST", "/webhooks/resend", {"order_id": NO_SUCH_ID, "event": "order.cancelled"}),
        ("GET", "/webhook-logs", None),
        ("GET", f"/webhook-logs/{log_id}", None),
        ("POST", f"/webhook-logs/{log_id}/retry", None),
    ]


def test_a_key_without_webhooks_manage_is_403_on_every_webhook_endpoint(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a tenant's endpoint and delivery, and a key of that tenant with every other scope
    t = make_tenant()
    hook = create_hook(client, t.headers)
    cancelled_order(client, t.headers)
    log_id = a_delivery(inkwell, t)
    _, narrow = extra_key(inkwell, t.id, scopes=[s for s in ALL_SCOPES if s != "webhooks.manage"])

    for method, path, body in webhook_calls(hook["id"], log_id):
        # When that key calls a webhook endpoint
        r = client.request(method, path, json=body, headers=narrow)

        # Then it is 403 forbidden, naming the scope
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"] == "forbidden", (method, path, r.text)
        assert r.json()["required_scope"] == "webhooks.manage"
    # And nothing changed
    got = client.get(f"/webhooks/{hook['id']}", headers=t.headers).json()["webhook"]
    assert got["is_active"] is True and got["previous_secret_expires_at"] is None
    assert len(client.get("/webhooks", headers=t.headers).json()["webhooks"]) == 1


# --- the events feed ----------------------------------------------------------------------


def test_events_needs_orders_read(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a key with every scope but orders.read
    t = make_tenant()
    _, narrow = extra_key(inkwell, t.id, scopes=[s for s in ALL_SCOPES if s != "orders.read"])

    # When it reads the events feed
    r = client.get("/events", headers=narrow)

    # Then it is 403 forbidden naming orders.read
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "forbidden"
    assert r.json()["required_scope"] == "orders.read"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "not-an-event-id"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"type": "order.exploded"}, "type"),
    ],
    ids=["bad after", "limit 0", "limit too big", "unknown type"],
)
def test_events_refuses_bad_parameters(
    client: httpx.Client, make_tenant: MakeTenant, params: dict[str, str], field: str
) -> None:
    # Given a tenant
    t = make_tenant()

    # When it reads the feed with a bad parameter
    r = client.get("/events", params=params, headers=t.headers)

    # Then it answers 400 naming the parameter
    assert_invalid(r, field)


def test_events_are_listed_oldest_first_after_a_cursor(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given three orders cancelled one after another (order.created, order.confirmed at
    # intake, then order.cancelled: three events each)
    t = make_tenant()
    orders = [cancelled_order(client, t.headers) for _ in range(3)]

    # When the partner reads the feed from the start
    page = events_of(client, t.headers, 9)

    # Then it gets the nine events oldest first, each in the webhook body's shape
    events = page["events"]
    assert [e["data"]["order_id"] for e in events] == [o for o in orders for _ in range(3)]
    for i in range(0, 9, 3):
        trio = [e["event"] for e in events[i : i + 3]]
        assert sorted(trio[:2]) == ["order.confirmed", "order.created"]
        assert trio[2] == "order.cancelled"
    assert all(set(e) == {"id", "event", "timestamp", "data"} for e in events)
    assert page["has_more"] is False
    assert page["next_after"] == events[-1]["id"]

    # When it reads after the first event, and after the last
    after_first = events_of(client, t.headers, 8, after=events[0]["id"])
    after_last = client.get("/events", params={"after": events[-1]["id"]}, headers=t.headers)

    # Then it gets the rest, and then nothing (with the cursor kept)
    assert [e["id"] for e in after_first["events"]] == [e["id"] for e in events[1:]]
    assert after_last.status_code == 200, after_last.text
    assert after_last.json()["events"] == []
    assert after_last.json()["next_after"] == events[-1]["id"]

    # And a page of one says there is more and where to go on from
    first = client.get("/events", params={"limit": "1"}, headers=t.headers).json()
    assert [e["id"] for e in first["events"]] == [events[0]["id"]]
    assert first["has_more"] is True
    assert first["next_after"] == events[0]["id"]
    # And an event id that is not the tenant's is not a cursor
    unknown = client.get("/events", params={"after": str(uuid.uuid4())}, headers=t.headers)
    assert unknown.status_code == 404, unknown.text
