"""Limits that hold on every path, over real HTTP: the active-endpoint cap (create, PUT
is_active, reactivate, concurrent creates), manual resend/retry metering, merged message
length and page cap, and the API-key cache and creation rules."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.serve import ServerThread
from engine import errors
from engine.adapters import tables
from engine.bootstrap import Inkwell, bootstrap
from engine.domain import apikeys, layout
from engine.domain.statuses import Mode
from engine.services import fanout, keys, manual_sends, principals, webhooks
from tests.conftest import (
    PARTNER,
    MakeInkwell,
    MakeTenant,
    make_settings,
    order_body,
    serve,
    tenant_factory,
)

HOOK_URL = "https://partner.example.com/hooks/inkwell"


def _create(client: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    return client.post("/webhooks", json={"url": HOOK_URL, "events": ["*"]}, headers=headers)


def _fill(client: httpx.Client, headers: dict[str, str], n: int) -> list[str]:
    ids = []
    for _ in range(n):
        r = _create(client, headers)
        assert r.status_code == 201, r.text
        ids.append(str(r.json()["webhook"]["id"]))
    return ids


def _assert_cap_refused(r: httpx.Response) -> None:
    assert r.status_code == 409, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == "endpoint_limit_reached"
    assert set(body) >= {"error", "message", "suggestion"}


def _active_count(client: httpx.Client, headers: dict[str, str]) -> int:
    r = client.get("/webhooks", headers=headers)
    assert r.status_code == 200, r.text
    return sum(1 for w in r.json()["webhooks"] if w["is_active"])


def test_create_over_the_cap_is_refused_and_other_tenants_do_not_count(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    a, b = make_tenant(name="A"), make_tenant(name="B")
    _fill(client, a.headers, webhooks.MAX_ENDPOINTS)
    _assert_cap_refused(_create(client, a.headers))
    # B's first endpoint is unaffected by A's twenty.
    assert _create(client, b.headers).status_code == 201
    # An inactive endpoint frees a place.
    first = client.get("/webhooks", headers=a.headers).json()["webhooks"][0]["id"]
    assert client.delete(f"/webhooks/{first}", headers=a.headers).status_code == 200
    assert _create(client, a.headers).status_code == 201
    assert _active_count(client, a.headers) == webhooks.MAX_ENDPOINTS


def test_put_is_active_and_reactivate_over_the_cap_are_refused(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    a = make_tenant()
    ids = _fill(client, a.headers, webhooks.MAX_ENDPOINTS)
    assert client.delete(f"/webhooks/{ids[0]}", headers=a.headers).status_code == 200
    assert _create(client, a.headers).status_code == 201  # back at 20 active

    _assert_cap_refused(
        client.put(f"/webhooks/{ids[0]}", json={"is_active": True}, headers=a.headers)
    )
    _assert_cap_refused(client.post(f"/webhooks/{ids[0]}/reactivate", headers=a.headers))
    assert _active_count(client, a.headers) == webhooks.MAX_ENDPOINTS
    # An active endpoint may still be PUT with is_active=true (nothing is added).
    r = client.put(f"/webhooks/{ids[1]}", json={"is_active": True}, headers=a.headers)
    assert r.status_code == 200, r.text


def test_concurrent_creates_at_the_edge_never_pass_the_cap(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    a = make_tenant()
    _fill(client, a.headers, webhooks.MAX_ENDPOINTS - 1)
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def one() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=30) as c:
            barrier.wait()
            codes.append(_create(c, a.headers).status_code)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201, 409, 409, 409]
    assert _active_count(client, a.headers) == webhooks.MAX_ENDPOINTS


@pytest.fixture
def metered(make_inkwell: MakeInkwell) -> Iterator[tuple[Inkwell, httpx.Client]]:
    """Our app served over HTTP with an allowance of 3 manual sends per endpoint per hour."""
    app = make_inkwell(webhook_manual_sends_per_hour=3)
    with serve(app) as c:
        yield app, c


def test_manual_resends_are_metered_per_endpoint_with_retry_after(
    metered: tuple[Inkwell, httpx.Client],
) -> None:
    app, c = metered
    a = tenant_factory(app)()
    first = _create(c, a.headers).json()["webhook"]["id"]
    r = c.post("/orders", json=order_body(1), headers=a.headers)
    assert r.status_code == 201, r.text
    order_id = r.json()["order"]["id"]
    assert c.post(f"/orders/{order_id}/cancel", headers=a.headers).status_code == 200
    resend = {"order_id": order_id, "event": "order.cancelled"}

    for _ in range(3):
        ok = c.post("/webhooks/resend", json=resend, headers=a.headers)
        assert ok.status_code in (200, 201, 202), ok.text
    over = c.post("/webhooks/resend", json=resend, headers=a.headers)
    assert over.status_code == 429, over.text
    assert over.json()["error"] == "rate_limit_exceeded"
    assert set(over.json()) >= {"error", "message", "suggestion"}
    assert 0 < int(over.headers["Retry-After"]) <= 3600

    # The count lives in the database: a second app process on it sees the same three.
    other = bootstrap(app.settings)
    try:
        who = principals.authenticate(other, f"Bearer {a.key}")
        with pytest.raises(errors.ManualResendsExhausted):
            manual_sends.resend(other, who, order_id=order_id, event="order.cancelled")
    finally:
        other.close()

    # A retry of a failed delivery to that endpoint is refused the same way.
    with app.uow() as uow:
        event_id = uow.session.scalar(
            sa.select(tables.Event.id).where(
                tables.Event.order_id == uuid.UUID(order_id), tables.Event.type == "order.cancelled"
            )
        )
    assert event_id is not None
    fanout.fan_out(app, event_id)
    with app.uow() as uow:
        d = tables.WebhookDelivery
        log_id = uow.session.scalar(
            sa.select(d.id).where(d.event_id == event_id, d.key.not_like("%:resend:%"))
        )
        uow.session.execute(sa.update(d).where(d.id == log_id).values(status="failed"))
        uow.commit()
    retried = c.post(f"/webhook-logs/{log_id}/retry", headers=a.headers)
    assert retried.status_code == 429, retried.text
    assert retried.json()["error"] == "rate_limit_exceeded"
    assert "Retry-After" in retried.headers

    # A fresh endpoint has its own allowance; a resend to both now is refused as a whole
    # because the first is spent (one event to each endpoint counts one each).
    _create(c, a.headers)
    refused = c.post("/webhooks/resend", json=resend, headers=a.headers)
    assert refused.status_code == 429, refused.text
    assert c.delete(f"/webhooks/{first}", headers=a.headers).status_code == 200
    again = c.post("/webhooks/resend", json=resend, headers=a.headers)
    assert again.status_code in (200, 201, 202), again.text


@pytest.fixture
def two_processes(pg_url: str, tmp_path: Path) -> Iterator[tuple[Inkwell, str, Inkwell, str]]:
    """Two apps on one database, each served over HTTP with its own 1-second key cache,
    as two web processes are."""
    apps = [bootstrap(make_settings(pg_url, tmp_path, auth_cache_s=1)) for _ in "ab"]
    servers = [ServerThread(create_app(a)).start() for a in apps]
    try:
        yield apps[0], servers[0].url + PARTNER, apps[1], servers[1].url + PARTNER
    finally:
        for server in servers:
            server.stop()
        for a in apps:
            a.close()


def _statements(app: Inkwell) -> list[str]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(app.engine, "before_cursor_execute", record)
    return seen


def test_a_flood_of_one_unknown_key_reaches_the_database_once_per_cache_period(
    two_processes: tuple[Inkwell, str, Inkwell, str],
) -> None:
    app, url, _, _ = two_processes
    bad = {"Authorization": f"Bearer {apikeys.generate(Mode.TEST)}"}
    seen = _statements(app)
    with httpx.Client(base_url=url) as c:
        answers = [c.get("/balance", headers=bad) for _ in range(30)]
    assert {(r.status_code, r.json()["error"]) for r in answers} == {(401, "invalid_api_key")}
    key_reads = [s for s in seen if "api_keys" in s]
    assert len(key_reads) == 1, key_reads
    # After AUTH_CACHE_S the key is looked up again (it might exist by now).
    time.sleep(1.1)
    with httpx.Client(base_url=url) as c:
        assert c.get("/balance", headers=bad).status_code == 401
    assert len([s for s in seen if "api_keys" in s]) == 2


def test_a_key_looked_up_as_unknown_works_at_once_when_created(
    two_processes: tuple[Inkwell, str, Inkwell, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, url, _, _ = two_processes
    made = tenant_factory(app)()
    # The next generated key is one we know (and have already tried) in advance.
    raw = apikeys.generate(Mode.TEST)
    monkeypatch.setattr(apikeys, "generate", lambda mode: raw)
    with httpx.Client(base_url=url) as c:
        headers = {"Authorization": f"Bearer {raw}"}
        assert c.get("/balance", headers=headers).status_code == 401
        r = c.post("/keys", json={"name": "new"}, headers=made.headers)
        assert r.status_code == 201, r.text
        assert r.json()["key"]["full_key"] == raw
        assert c.get("/balance", headers=headers).status_code == 200


def test_a_revoked_key_stops_working_in_every_process_within_the_cache_period(
    two_processes: tuple[Inkwell, str, Inkwell, str],
) -> None:
    app_a, url_a, _, url_b = two_processes
    made = tenant_factory(app_a)()
    with httpx.Client(base_url=url_a) as a, httpx.Client(base_url=url_b) as b:
        second = a.post("/keys", json={"name": "second"}, headers=made.headers).json()["key"]
        victim = {"Authorization": f"Bearer {second['full_key']}"}
        assert b.get("/balance", headers=victim).status_code == 200  # cached in B
        revoked_at = time.monotonic()
        assert a.delete(f"/keys/{second['id']}", headers=made.headers).status_code == 200
        # Steady use in B does not keep its cache entry alive past AUTH_CACHE_S.
        codes = []
        while time.monotonic() - revoked_at < 1.3:
            codes.append(b.get("/balance", headers=victim).status_code)
            time.sleep(0.1)
        assert codes[-1] == 401
        assert b.get("/balance", headers=victim).json()["error"] == "revoked_api_key"


def test_a_key_cannot_create_a_key_that_outlives_it_or_has_more_scopes(
    client: httpx.Client, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    tenant = make_tenant()
    expiry = inkwell.clock() + timedelta(hours=1)
    with inkwell.uow() as uow:
        _, raw = keys.insert_key(
            uow.session,
            tenant_id=tenant.id,
            mode=Mode.TEST,
            name="short-lived",
            scopes=["keys.manage", "balance.read"],
            expires_at=expiry,
            now=inkwell.clock(),
        )
        uow.commit()
    short = {"Authorization": f"Bearer {raw}"}

    for body in (
        {"name": "forever"},
        {"name": "later", "expires_at": (expiry + timedelta(minutes=1)).isoformat()},
    ):
        r = client.post("/keys", json=body, headers=short)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "validation_error"
        assert [d["field"] for d in r.json()["details"]] == ["expires_at"]

    sooner = (expiry - timedelta(minutes=1)).isoformat()
    ok = client.post("/keys", json={"name": "sooner", "expires_at": sooner}, headers=short)
    assert ok.status_code == 201, ok.text

    wider = client.post(
        "/keys",
        json={"name": "wider", "permissions": ["orders.create"], "expires_at": sooner},
        headers=short,
    )
    assert wider.status_code == 403, wider.text
    assert wider.json()["error"] == "forbidden"
    # A key without expiry may still create one without expiry.
    assert client.post("/keys", json={"name": "x"}, headers=tenant.headers).status_code == 201


def _too_long_for(details: list[dict[str, Any]]) -> list[int]:
    return [
        d["recipient_index"]
        for d in details
        if d["field"] == "message_body" and d["error"].startswith("message_too_long")
    ]


def test_a_message_too_long_once_merged_refuses_that_recipient(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    tenant = make_tenant()
    # A short template (well under 1,500) that one recipient's field blows past a card's space.
    body = order_body(3, product_type="card", message_body="Dear {{first_name}}, {{note}}")
    body["recipients"][1]["custom_fields"] = {"note": "x" * 1490}  # type: ignore[index]
    r = client.post("/orders", json=body, headers=tenant.headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "validation_error"
    assert _too_long_for(r.json()["details"]) == [1]

    body["skip_invalid"] = True
    r = client.post("/orders", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    assert order["letter_count"] == 2


def test_a_letter_never_runs_past_its_page_cap(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    tenant = make_tenant()
    # Under 7,500 characters, but one short line per paragraph: 7 pages of 27 lines.
    many_lines = "\n".join("Thank you." for _ in range(27 * layout.MAX_LETTER_PAGES + 1))
    assert len(many_lines) < 7500
    r = client.post("/orders", json=order_body(2, message_body=many_lines), headers=tenant.headers)
    assert r.status_code == 400, r.text
    assert _too_long_for(r.json()["details"]) == [0, 1]
    assert "pages" in r.json()["details"][0]["error"]
    fits = "\n".join("Thank you." for _ in range(27 * layout.MAX_LETTER_PAGES))
    r = client.post("/orders", json=order_body(1, message_body=fits), headers=tenant.headers)
    assert r.status_code == 201, r.text
