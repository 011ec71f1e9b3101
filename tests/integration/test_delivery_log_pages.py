"""Delivery logs page as 001 does: `limit` (default 50, at most 100) and `offset`, with
`pagination.{total, limit, offset, has_more}`; bad values are 400 validation_error; a
tenant sees only its own deliveries."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import fanout
from tests.conftest import MakeTenant, TenantHandle, order_body


def hook_with_deliveries(
    client: httpx.Client, inkwell: Inkwell, t: TenantHandle, orders: int, url: str
) -> str:
    """An endpoint for every event, and each of the tenant's events fanned out to it."""
    r = client.post("/webhooks", json={"url": url, "events": ["*"]}, headers=t.headers)
    assert r.status_code == 201, r.text
    for _ in range(orders):
        assert client.post("/orders", json=order_body(1), headers=t.headers).status_code == 201
    with inkwell.uow() as uow:
        ids = uow.session.scalars(
            sa.select(tables.Event.id).where(tables.Event.tenant_id == t.id)
        ).all()
    for event_id in ids:
        assert fanout.fan_out(inkwell, event_id) == 1
    return str(r.json()["webhook"]["id"])


def get(client: httpx.Client, t: TenantHandle, path: str, **params: Any) -> dict[str, Any]:
    r = client.get(path, params=params, headers=t.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.mark.parametrize("path", ["/webhooks/{hook}/deliveries", "/webhook-logs"])
def test_logs_page_by_limit_and_offset(
    client: httpx.Client, inkwell: Inkwell, make_tenant: MakeTenant, path: str
) -> None:
    # Given a tenant whose 3 orders made 6 deliveries (created + confirmed each)
    t = make_tenant()
    hook = hook_with_deliveries(client, inkwell, t, 3, "https://a.example.com/h")
    path = path.format(hook=hook)

    # When it reads the log with the defaults
    everything = get(client, t, path)

    # Then it gets all 6 at the default limit of 50, each saying whether it succeeded
    assert everything["pagination"] == {"total": 6, "limit": 50, "offset": 0, "has_more": False}
    assert len(everything["deliveries"]) == 6
    assert all(d["success"] is False for d in everything["deliveries"])
    assert {d["event_type"] for d in everything["deliveries"]} == {
        "order.created",
        "order.confirmed",
    }

    # When it pages by 4
    first = get(client, t, path, limit=4)
    second = get(client, t, path, limit=4, offset=4)
    beyond = get(client, t, path, limit=4, offset=40)

    # Then the pages split the log without gap or overlap, newest first
    assert first["pagination"] == {"total": 6, "limit": 4, "offset": 0, "has_more": True}
    assert second["pagination"] == {"total": 6, "limit": 4, "offset": 4, "has_more": False}
    ids = [d["id"] for d in first["deliveries"] + second["deliveries"]]
    assert ids == [d["id"] for d in everything["deliveries"]]
    assert beyond["deliveries"] == [] and beyond["pagination"]["has_more"] is False
    # And 100 is allowed
    assert get(client, t, path, limit=100)["pagination"]["limit"] == 100


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "x"}, "offset"),
    ],
    ids=["limit 0", "limit 101", "limit negative", "limit text", "offset -1", "offset text"],
)
@pytest.mark.parametrize("path", ["/webhooks/{hook}/deliveries", "/webhook-logs"])
def test_bad_limit_or_offset_is_400_validation_error(
    client: httpx.Client,
    make_tenant: MakeTenant,
    path: str,
    params: dict[str, object],
    field: str,
) -> None:
    # Given a tenant with an endpoint
    t = make_tenant()
    r = client.post(
        "/webhooks", json={"url": "https://a.example.com/h", "events": ["*"]}, headers=t.headers
    )
    path = path.format(hook=r.json()["webhook"]["id"])

    # When it asks for a page with a bad limit or offset
    r = client.get(path, params=params, headers=t.headers)  # type: ignore[arg-type]

    # Then it answers 400 validation_error naming the parameter
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "validation_error"
    assert field in [d["field"] for d in r.json()["details"]], r.text


def test_logs_show_only_the_callers_deliveries(
    client: httpx.Client, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given tenants A (2 orders) and B (1 order), each with its own endpoint and deliveries
    a, b = make_tenant(name="A"), make_tenant(name="B")
    hook_a = hook_with_deliveries(client, inkwell, a, 2, "https://a.example.com/h")
    hook_b = hook_with_deliveries(client, inkwell, b, 1, "https://b.example.com/h")

    # When each reads its logs
    logs_a = get(client, a, "/webhook-logs")
    logs_b = get(client, b, "/webhook-logs", limit=1)

    # Then each counts and lists only its own
    assert logs_a["pagination"]["total"] == 4
    assert {d["webhook_id"] for d in logs_a["deliveries"]} == {hook_a}
    assert logs_b["pagination"] == {"total": 2, "limit": 1, "offset": 0, "has_more": True}
    assert {d["webhook_id"] for d in logs_b["deliveries"]} == {hook_b}
    # And another tenant's endpoint is 404, even paged
    r = client.get(f"/webhooks/{hook_a}/deliveries", params={"limit": 10}, headers=b.headers)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.get("/webhook-logs", params={"webhook_id": hook_a}, headers=b.headers)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
