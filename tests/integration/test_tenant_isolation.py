"""A tenant sees only its own rows, and test mode and live mode of one tenant are two worlds:
another tenant's (or mode's) id answers 404 (never 403), changes nothing, and never shows
up in a listing. Also the seeded font catalogue, shaped as in reference 000."""

from __future__ import annotations

import uuid

import httpx
import pytest

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.domain.statuses import Mode
from engine.services import tenants
from tests.conftest import MakeTenant, order_body
from tests.factories import extra_key, place_order


def assert_not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    body = r.json()
    assert body["error"] == "not_found", body
    assert body["message"].strip() and body["suggestion"].strip(), body


def state_of(client: httpx.Client, headers: dict[str, str], order_id: str) -> tuple[str, int]:
    """(order status, available balance) as its owner sees them."""
    order = client.get(f"/orders/{order_id}", headers=headers)
    balance = client.get("/balance", headers=headers)
    assert order.status_code == 200, order.text
    assert balance.status_code == 200, balance.text
    return order.json()["order"]["status"], balance.json()["balance_cents"]


# --- another tenant ----------------------------------------------------------------------


def test_another_tenants_order_and_key_ids_answer_404_and_change_nothing(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given tenant A with a pending order, and tenant B with its own order and credit
    a = make_tenant(credits_cents=5000, name="A")
    b = make_tenant(credits_cents=5000, name="B")
    a_order = place_order(client, a.headers, n=2)
    place_order(client, b.headers)
    before = state_of(client, a.headers, a_order["id"])
    assert before == ("pending", 5000 - a_order["total_cents"])
    b_balance = client.get("/balance", headers=b.headers).json()["balance_cents"]

    # When B reads A's order, cancels it, and revokes A's key
    read = client.get(f"/orders/{a_order['id']}", headers=b.headers)
    cancel = client.post(f"/orders/{a_order['id']}/cancel", headers=b.headers)
    revoke = client.delete(f"/keys/{a.key_id}", headers=b.headers)

    # Then each answers 404 not_found (never 403), and reveals nothing of A's rows
    for r in (read, cancel, revoke):
        assert_not_found(r)
        assert "order" not in r.json() and "key" not in r.json()
    # And the answers look exactly like those for ids that exist nowhere
    ghost = str(uuid.uuid4())
    ghost_read = client.get(f"/orders/{ghost}", headers=b.headers).json()
    ghost_revoke = client.delete(f"/keys/{ghost}", headers=b.headers).json()
    assert read.json() == {k: v.replace(ghost, a_order["id"]) for k, v in ghost_read.items()}
    assert revoke.json() == {k: v.replace(ghost, str(a.key_id)) for k, v in ghost_revoke.items()}

    # And A's order is still pending, A's balance unchanged, A's key still works
    assert state_of(client, a.headers, a_order["id"]) == before
    assert client.get("/keys", headers=a.headers).status_code == 200
    a_keys = client.get("/keys", headers=a.headers).json()["keys"]
    assert [k["is_active"] for k in a_keys] == [True]
    # And B gained nothing either
    assert client.get("/balance", headers=b.headers).json()["balance_cents"] == b_balance


def test_listings_never_contain_another_tenants_rows(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given A with three orders and two keys, B with one order and one key
    a = make_tenant(credits_cents=5000, name="A")
    b = make_tenant(credits_cents=5000, name="B")
    a_orders = {place_order(client, a.headers)["id"] for _ in range(3)}
    b_order = place_order(client, b.headers)["id"]
    created = client.post("/keys", json={"name": "A's second"}, headers=a.headers)
    assert created.status_code == 201, created.text
    a_keys = {str(a.key_id), created.json()["key"]["id"]}

    # When B lists orders (every status, both sort directions) and keys
    listings = [
        client.get("/orders", params=params, headers=b.headers).json()
        for params in (
            {},
            {"order": "asc"},
            {"limit": 100},
            {"status": "pending"},
            {"sort": "total_cents"},
        )
    ]
    b_keys = client.get("/keys", headers=b.headers).json()["keys"]

    # Then B sees only its own order and its own key
    for listing in listings:
        assert [o["id"] for o in listing["orders"]] == [b_order]
        assert listing["pagination"]["total"] == 1
    assert [k["id"] for k in b_keys] == [str(b.key_id)]
    assert not a_keys & {k["id"] for k in b_keys}

    # And A sees its own three orders and two keys, none of B's
    a_listing = client.get("/orders", params={"limit": 100}, headers=a.headers).json()
    assert {o["id"] for o in a_listing["orders"]} == a_orders
    assert {k["id"] for k in client.get("/keys", headers=a.headers).json()["keys"]} == a_keys


def test_another_tenants_custom_font_is_invisible(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given A has its own uploaded font
    a = make_tenant(name="A")
    b = make_tenant(name="B")
    font_id = uuid.uuid4()
    with inkwell.uow() as uow:
        uow.session.add(
            tables.Font(
                id=font_id,
                tenant_id=a.id,
                slug="a-private-hand",
                name="A Private Hand",
                description="A's own handwriting",
                category="script",
            )
        )
        uow.commit()

    # When each lists fonts, and B orders with A's font
    a_fonts = client.get("/fonts", headers=a.headers).json()
    b_fonts = client.get("/fonts", headers=b.headers).json()
    b_order = client.post(
        "/orders", json=order_body(1, handwriting_style=str(font_id)), headers=b.headers
    )

    # Then A sees it as custom, B neither sees it nor can use it
    mine = [f for f in a_fonts["fonts"] if f["id"] == str(font_id)]
    assert len(mine) == 1 and mine[0]["is_custom"] is True
    assert a_fonts["total"] == b_fonts["total"] + 1
    assert str(font_id) not in {f["id"] for f in b_fonts["fonts"]}
    assert b_order.status_code == 400, b_order.text
    assert any(d["field"] == "handwriting_style" for d in b_order.json()["details"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/orders/{id}"),
        ("POST", "/orders/{id}/cancel"),
        ("DELETE", "/keys/{id}"),
    ],
)
@pytest.mark.parametrize(
    "bad_id",
    ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "%00", "' OR 1=1 --", "x" * 500],
)
def test_malformed_or_unknown_ids_answer_404(
    client: httpx.Client, make_tenant: MakeTenant, method: str, path: str, bad_id: str
) -> None:
    # Given a tenant with an order
    t = make_tenant(credits_cents=1000)
    place_order(client, t.headers)

    # When an id that is not a UUID is used
    r = client.request(method, path.format(id=bad_id), headers=t.headers)

    # Then it answers 404 not_found (400 invalid_order_id on /orders, as 001), not 422 or 500
    if path.startswith("/orders"):
        assert r.status_code == 400 and r.json()["error"] == "invalid_order_id", r.text
    else:
        assert_not_found(r)
    # And the tenant's order is untouched
    assert client.get("/balance", headers=t.headers).json()["balance_cents"] == 1000 - 298


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/orders/{id}"), ("POST", "/orders/{id}/cancel"), ("DELETE", "/keys/{id}")],
)
def test_well_formed_unknown_id_answers_404(
    client: httpx.Client, make_tenant: MakeTenant, method: str, path: str
) -> None:
    # Given a tenant
    t = make_tenant()

    # When a random UUID that names nothing is used
    r = client.request(method, path.format(id=uuid.uuid4()), headers=t.headers)

    # Then it answers 404 not_found
    assert_not_found(r)


# --- test mode and live mode of the same tenant ------------------------------------------


def test_live_mode_sees_nothing_of_test_mode(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a tenant with $50.00 in test mode and two pending test orders, and a live key
    t = make_tenant(credits_cents=5000, mode=Mode.TEST)
    test_orders = [place_order(client, t.headers) for _ in range(2)]
    test_balance = client.get("/balance", headers=t.headers).json()
    live_id, live = extra_key(inkwell, t.id, mode=Mode.LIVE)

    # When the live key lists orders, reads the balance, and uses a test order's id
    listing = client.get("/orders", headers=live)
    balance = client.get("/balance", headers=live)
    read = client.get(f"/orders/{test_orders[0]['id']}", headers=live)
    cancel = client.post(f"/orders/{test_orders[0]['id']}/cancel", headers=live)
    revoke = client.delete(f"/keys/{t.key_id}", headers=live)

    # Then it sees no test orders and its own (empty) live wallet
    assert listing.status_code == 200, listing.text
    assert listing.json()["orders"] == []
    assert listing.json()["pagination"]["total"] == 0
    assert balance.status_code == 200, balance.text
    assert balance.json()["balance_cents"] == 0
    assert balance.json()["balance_cents"] != test_balance["balance_cents"]
    assert balance.json()["mode"] == "live" and test_balance["mode"] == "test"
    # And a test order or test key id answers 404
    for r in (read, cancel, revoke):
        assert_not_found(r)
    # And the test order is still pending, the test wallet unchanged, the test key active
    assert state_of(client, t.headers, test_orders[0]["id"]) == (
        "pending",
        test_balance["balance_cents"],
    )
    # And each mode's key list shows only that mode's keys
    live_keys = client.get("/keys", headers=live).json()["keys"]
    test_keys = client.get("/keys", headers=t.headers).json()["keys"]
    assert [k["id"] for k in live_keys] == [str(live_id)]
    assert [k["mode"] for k in live_keys] == ["live"]
    assert [k["id"] for k in test_keys] == [str(t.key_id)]
    assert all(k["is_active"] for k in test_keys)


def test_test_mode_sees_nothing_of_live_mode(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a tenant with $50.00 in test mode, $20.00 in live mode and one live order
    t = make_tenant(credits_cents=5000, mode=Mode.TEST)
    live_id, live = extra_key(inkwell, t.id, mode=Mode.LIVE)
    tenants.add_credits(inkwell, tenant_id=t.id, mode=Mode.LIVE, amount_cents=2000)
    live_order = place_order(client, live)
    assert live_order["mode"] == "live"

    # When the test key looks for it, cancels it, and revokes the live key
    listing = client.get("/orders", headers=t.headers).json()
    read = client.get(f"/orders/{live_order['id']}", headers=t.headers)
    cancel = client.post(f"/orders/{live_order['id']}/cancel", headers=t.headers)
    revoke = client.delete(f"/keys/{live_id}", headers=t.headers)

    # Then test mode sees none of it, and its wallet was never charged
    assert listing["orders"] == [] and listing["pagination"]["total"] == 0
    for r in (read, cancel, revoke):
        assert_not_found(r)
    assert client.get("/balance", headers=t.headers).json()["balance_cents"] == 5000
    # And the live order is still pending, its hold still on the live wallet
    assert state_of(client, live, live_order["id"]) == ("pending", 2000 - 298)


# --- fonts --------------------------------------------------------------------------------


def test_fonts_returns_the_seeded_catalogue_shaped_as_reference(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a new tenant with no fonts of its own
    t = make_tenant()

    # When it lists fonts
    r = client.get("/fonts", headers=t.headers)

    # Then it gets the seeded catalogue: at least five, exactly one default
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"fonts", "default_font_id", "total"}
    fonts = body["fonts"]
    assert len(fonts) >= 5
    assert body["total"] == len(fonts)
    defaults = [f for f in fonts if f["is_default"] is True]
    assert len(defaults) == 1
    assert body["default_font_id"] == defaults[0]["id"]
    # And every font has exactly the fields of reference 000
    for font in fonts:
        assert set(font) == {"id", "name", "description", "category", "is_default", "is_custom"}
        uuid.UUID(font["id"])
        assert isinstance(font["name"], str) and font["name"]
        assert isinstance(font["description"], str)
        assert isinstance(font["category"], str) and font["category"]
        assert isinstance(font["is_default"], bool)
        assert font["is_custom"] is False
    assert len({f["id"] for f in fonts}) == len(fonts)
    assert len({f["name"] for f in fonts}) == len(fonts)


def test_every_tenant_and_mode_sees_the_same_catalogue(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given two tenants, one also with a live key
    a = make_tenant(name="A")
    b = make_tenant(name="B")
    _, a_live = extra_key(inkwell, a.id, mode=Mode.LIVE)

    # When each lists fonts
    seen = [client.get("/fonts", headers=h).json() for h in (a.headers, b.headers, a_live)]

    # Then the shared catalogue and default are the same for all
    assert seen[0] == seen[1] == seen[2]
