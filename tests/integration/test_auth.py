"""Authentication and scopes over real HTTP: every way a key can fail says why (401 with a
distinct code and a suggestion), every endpoint refuses a key without its scope (403
naming the scope), and a key records when it was last used."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from engine.bootstrap import Inkwell
from engine.domain.scopes import ALL_SCOPES
from tests.conftest import MakeTenant, order_body
from tests.factories import extra_key

UNKNOWN_KEY = "ink_test_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"


def assert_auth_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """`r` is a `status` answer with error `code`, a message and a non-empty suggestion."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    assert isinstance(body["suggestion"], str) and body["suggestion"].strip(), body
    return dict(body)


# --- 401: each way a key can fail ------------------------------------------------------


def test_missing_authorization_is_401_missing_api_key(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a tenant with credit (so nothing but the key could stop the request)
    make_tenant()

    # When a request arrives with no Authorization header, or a blank one
    no_header = client.get("/balance")
    blank = client.get("/balance", headers={"Authorization": ""})

    # Then both answer 401 missing_api_key with a suggestion and a Bearer challenge
    for r in (no_header, blank):
        assert_auth_error(r, 401, "missing_api_key")
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer garbage",
        "Bearer",
        "Bearer ink_test_short",
        "Bearer ink_prod_" + "a" * 32,
        "Bearer ink_test_" + "a" * 31 + "!",
        "Bearer ink_test_" + "a" * 33,
        "Token " + UNKNOWN_KEY,
        UNKNOWN_KEY,
    ],
)
def test_malformed_authorization_is_401_malformed_api_key(
    client: httpx.Client, make_tenant: MakeTenant, header: str
) -> None:
    # Given a tenant exists
    make_tenant()

    # When the Authorization header is not "Bearer <well-formed Inkwell key>"
    r = client.get("/balance", headers={"Authorization": header})

    # Then it answers 401 malformed_api_key
    assert_auth_error(r, 401, "malformed_api_key")


def test_unknown_well_formed_key_is_401_invalid_api_key(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a tenant exists, but the key sent was never issued (well-formed, 32 alphanumerics)
    make_tenant()

    # When it is used, in test and in live form
    test_form = client.get("/balance", headers={"Authorization": f"Bearer {UNKNOWN_KEY}"})
    live_form = client.get(
        "/balance", headers={"Authorization": f"Bearer {UNKNOWN_KEY.replace('test', 'live')}"}
    )

    # Then both answer 401 invalid_api_key
    assert_auth_error(test_form, 401, "invalid_api_key")
    assert_auth_error(live_form, 401, "invalid_api_key")


def test_revoked_key_is_401_revoked_api_key(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a second key that works, then is revoked by the tenant's default key
    t = make_tenant()
    other_id, other = extra_key(inkwell, t.id)
    assert client.get("/balance", headers=other).status_code == 200
    revoked = client.delete(f"/keys/{other_id}", headers=t.headers)
    assert revoked.status_code == 200, revoked.text

    # When the revoked key is used
    r = client.get("/balance", headers=other)

    # Then it answers 401 revoked_api_key, and the default key still works
    assert_auth_error(r, 401, "revoked_api_key")
    assert client.get("/balance", headers=t.headers).status_code == 200


def test_expired_key_is_401_expired_api_key(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a key that expired a minute ago, and one that expires in an hour
    t = make_tenant()
    now = inkwell.clock()
    _, expired = extra_key(inkwell, t.id, expires_at=now - timedelta(minutes=1))
    _, fresh = extra_key(inkwell, t.id, expires_at=now + timedelta(hours=1))

    # When each is used
    r_expired = client.get("/balance", headers=expired)
    r_fresh = client.get("/balance", headers=fresh)

    # Then the expired one answers 401 expired_api_key and the other works
    assert_auth_error(r_expired, 401, "expired_api_key")
    assert r_fresh.status_code == 200, r_fresh.text


def test_the_five_auth_failures_have_distinct_codes(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given one request for each way authentication can fail
    t = make_tenant()
    revoked_id, revoked = extra_key(inkwell, t.id)
    assert client.delete(f"/keys/{revoked_id}", headers=t.headers).status_code == 200
    _, expired = extra_key(inkwell, t.id, expires_at=inkwell.clock() - timedelta(seconds=1))
    requests: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer garbage"},
        {"Authorization": f"Bearer {UNKNOWN_KEY}"},
        revoked,
        expired,
    ]

    # When each is sent
    responses = [client.get("/orders", headers=headers) for headers in requests]

    # Then each answers 401 with its own documented code
    codes = [r.json()["error"] for r in responses]
    bodies = [assert_auth_error(r, 401, code) for r, code in zip(responses, codes, strict=True)]
    assert codes == [
        "missing_api_key",
        "malformed_api_key",
        "invalid_api_key",
        "revoked_api_key",
        "expired_api_key",
    ]
    assert len(set(codes)) == 5
    assert len({b["suggestion"] for b in bodies}) == 5


def test_auth_is_checked_before_anything_else_is_done(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a tenant with $10.00
    t = make_tenant(credits_cents=1000)

    # When a valid order is posted with an unknown key
    r = client.post(
        "/orders", json=order_body(1), headers={"Authorization": f"Bearer {UNKNOWN_KEY}"}
    )

    # Then it is refused and nothing was ordered or charged
    assert_auth_error(r, 401, "invalid_api_key")
    assert client.get("/balance", headers=t.headers).json()["balance_cents"] == 1000
    assert client.get("/orders", headers=t.headers).json()["pagination"]["total"] == 0


# --- 403: a key without the endpoint's scope --------------------------------------------

ENDPOINTS: list[tuple[str, str, str]] = [
    ("POST", "/orders", "orders.create"),
    ("GET", "/orders", "orders.read"),
    ("GET", "/orders/{order_id}", "orders.read"),
    ("POST", "/orders/{order_id}/cancel", "orders.create"),
    ("GET", "/balance", "balance.read"),
    ("GET", "/fonts", "fonts.read"),
    ("GET", "/keys", "keys.manage"),
    ("POST", "/keys", "keys.manage"),
    ("DELETE", "/keys/{key_id}", "keys.manage"),
]


@pytest.mark.parametrize(
    ("method", "path", "scope"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS]
)
def test_key_without_the_scope_is_403_forbidden(
    client: httpx.Client,
    make_tenant: MakeTenant,
    inkwell: Inkwell,
    method: str,
    path: str,
    scope: str,
) -> None:
    # Given a real pending order, and a key holding every scope but the endpoint's one
    t = make_tenant(credits_cents=10_000)
    created = client.post("/orders", json=order_body(1), headers=t.headers)
    assert created.status_code == 201, created.text
    order_id = created.json()["order"]["id"]
    _, lacking = extra_key(inkwell, t.id, scopes=[s for s in ALL_SCOPES if s != scope])
    url = path.format(order_id=order_id, key_id=t.key_id)
    payload: dict[str, object] | None = None
    if (method, path) == ("POST", "/orders"):
        payload = order_body(1)
    elif (method, path) == ("POST", "/keys"):
        payload = {"name": "should not exist"}

    # When that key calls the endpoint
    r = client.request(method, url, json=payload, headers=lacking)

    # Then it answers 403 forbidden, naming the scope it needs
    body = assert_auth_error(r, 403, "forbidden")
    assert body["required_scope"] == scope
    assert scope in body["message"]

    # And nothing changed: one order, still pending, one hold, the same keys
    orders = client.get("/orders", headers=t.headers).json()
    assert orders["pagination"]["total"] == 1
    assert orders["orders"][0]["status"] == "pending"
    assert client.get("/balance", headers=t.headers).json()["balance_cents"] == 10_000 - 298
    listed = client.get("/keys", headers=t.headers).json()["keys"]
    assert len(listed) == 2
    assert all(k["is_active"] for k in listed)


def test_key_with_the_scope_passes_the_scope_check(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given keys that each carry exactly one scope
    t = make_tenant()
    _, balance_only = extra_key(inkwell, t.id, scopes=["balance.read"])
    _, fonts_only = extra_key(inkwell, t.id, scopes=["fonts.read"])

    # When each calls its own endpoint and the other's
    own_balance = client.get("/balance", headers=balance_only)
    own_fonts = client.get("/fonts", headers=fonts_only)
    cross = client.get("/fonts", headers=balance_only)

    # Then the scope it holds is enough, and only that one
    assert own_balance.status_code == 200, own_balance.text
    assert own_fonts.status_code == 200, own_fonts.text
    assert assert_auth_error(cross, 403, "forbidden")["required_scope"] == "fonts.read"


# --- last_used_at ------------------------------------------------------------------------


def test_last_used_at_is_recorded_when_a_key_is_used(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a second key that has never been used
    t = make_tenant()
    other_id, other = extra_key(inkwell, t.id, scopes=["balance.read"])

    def listed() -> dict[str, Any]:
        found = client.get("/keys", headers=t.headers).json()["keys"]
        return next(k for k in found if k["id"] == str(other_id))

    assert listed()["last_used_at"] is None
    before = inkwell.clock()

    # When it is used once
    assert client.get("/balance", headers=other).status_code == 200

    # Then GET /keys shows when
    used = listed()["last_used_at"]
    assert used is not None
    when = datetime.fromisoformat(used.replace("Z", "+00:00"))
    assert before - timedelta(seconds=5) <= when <= inkwell.clock() + timedelta(seconds=5)


def test_failed_auth_does_not_touch_last_used_at(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given an expired key that has never been used
    t = make_tenant()
    other_id, expired = extra_key(inkwell, t.id, expires_at=inkwell.clock() - timedelta(seconds=1))

    # When it is refused
    assert client.get("/balance", headers=expired).status_code == 401

    # Then it is not recorded as used
    found = client.get("/keys", headers=t.headers).json()["keys"]
    assert next(k for k in found if k["id"] == str(other_id))["last_used_at"] is None
