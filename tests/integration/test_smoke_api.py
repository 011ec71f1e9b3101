"""The happy path of the partner API, over real HTTP, on Postgres and SQLite."""

from __future__ import annotations

import httpx

from tests.conftest import MakeTenant, order_body


def test_create_read_list_cancel(any_client: httpx.Client, any_make_tenant: MakeTenant) -> None:
    # Given a tenant with $10.00
    t = any_make_tenant(credits_cents=1000)

    # When it orders one standard letter
    r = any_client.post("/orders", json=order_body(1), headers=t.headers)

    # Then the order is pending, priced as in the reference, and the hold shows on the balance
    assert r.status_code == 201, r.text
    body = r.json()
    order = body["order"]
    assert order["status"] == "pending"
    assert order["total_cents"] == 298
    assert order["cost_breakdown"]["description"] == (
        "1 letter x $1.99 + 1 envelope x $0.99 = $2.98"
    )
    assert body["balance_cents"] == 702
    assert any_client.get("/balance", headers=t.headers).json()["balance_cents"] == 702

    detail = any_client.get(f"/orders/{order['id']}", headers=t.headers).json()["order"]
    assert detail["recipients"][0]["first_name"] == "Person0"
    assert detail["recipient_count"] == 1

    listing = any_client.get("/orders", headers=t.headers).json()
    assert listing["pagination"] == {"page": 1, "limit": 25, "total": 1, "total_pages": 1}

    # And cancelling gives the money back
    r = any_client.post(f"/orders/{order['id']}/cancel", headers=t.headers)
    assert r.status_code == 200, r.text
    assert r.json()["order"]["status"] == "cancelled"
    assert r.json()["balance_cents"] == 1000
