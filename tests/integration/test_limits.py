"""Limits that hold on every path, over real HTTP: the active-endpoint cap (create, PUT
is_active, reactivate, concurrent creates), manual resend/retry metering, merged message
length and page cap, and the API-key cache and creation rules."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from engine.services import webhooks
from tests.conftest import MakeTenant

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
