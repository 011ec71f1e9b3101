"""The /keys endpoints over real HTTP: a new key is shown once and works, carries at most
its creator's scopes, bad requests say which field is wrong, and revoking is final,
harmless to repeat, and impossible for the key making the request."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.domain.scopes import ALL_SCOPES
from tests.conftest import MakeTenant, TenantHandle, order_body
from tests.factories import bearer, extra_key


def assert_refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "validation_error", body
    assert body["message"].strip() and body["suggestion"].strip(), body
    assert any(d["field"] == field and d["error"] for d in body["details"]), body


def create(client: httpx.Client, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/keys", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json()["key"])


def key_count(client: httpx.Client, t: TenantHandle) -> int:
    return len(client.get("/keys", headers=t.headers).json()["keys"])


# --- create --------------------------------------------------------------------------------


def test_create_key_returns_the_full_key_once(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a tenant with its full-scope key
    t = make_tenant()

    # When it creates a key named "CI"
    r = client.post("/keys", json={"name": "CI"}, headers=t.headers)

    # Then it gets 201 with the full test-mode key and its public fields
    assert r.status_code == 201, r.text
    body = r.json()
    key = body["key"]
    assert body["message"].strip()
    full = key["full_key"]
    assert full.startswith("ink_test_") and len(full) == len("ink_test_") + 32
    assert full[len("ink_test_") :].isalnum()
    assert key["name"] == "CI"
    assert key["mode"] == "test"
    assert key["is_active"] is True
    assert key["revoked_at"] is None and key["expires_at"] is None
    assert key["key_prefix"] == full[:12] + "..."
    uuid.UUID(key["id"])

    # And GET /keys shows it by prefix only: the full key appears nowhere in the list
    listing = client.get("/keys", headers=t.headers)
    assert listing.status_code == 200, listing.text
    assert full not in listing.text
    assert full[12:] not in listing.text
    listed = {k["id"]: k for k in listing.json()["keys"]}
    assert set(listed) == {str(t.key_id), key["id"]}
    for k in listed.values():
        assert "full_key" not in k and "key_hash" not in k
        assert k["key_prefix"].endswith("...") and len(k["key_prefix"]) == 15
    assert listed[key["id"]]["key_prefix"] == key["key_prefix"]

    # And the database holds only its SHA-256 hash, never the key itself
    with inkwell.uow() as uow:
        row = uow.session.get(tables.ApiKey, uuid.UUID(key["id"]))
        assert row is not None
        assert row.key_hash == hashlib.sha256(full.encode()).hexdigest()
        stored = [str(getattr(row, c.key)) for c in tables.ApiKey.__table__.columns]
        assert not any(full in value for value in stored)


def test_new_key_works_and_defaults_to_the_callers_scopes(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a tenant with $10.00 and its full-scope key
    t = make_tenant(credits_cents=1000)

    # When it creates a key without naming permissions
    key = create(client, t.headers, {"name": "Default scopes"})

    # Then the new key has every scope the caller has
    assert sorted(key["permissions"]) == sorted(ALL_SCOPES)
    # And it works right away, on the same tenant's data
    new = bearer(key["full_key"])
    order = client.post("/orders", json=order_body(1), headers=new)
    assert order.status_code == 201, order.text
    balance = client.get("/balance", headers=new)
    assert balance.status_code == 200 and balance.json()["balance_cents"] == 1000 - 298
    seen = client.get("/orders", headers=t.headers).json()["orders"]
    assert [o["id"] for o in seen] == [order.json()["order"]["id"]]


def test_default_permissions_are_the_callers_own_not_all(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a key that holds only keys.manage and fonts.read
    t = make_tenant()
    _, narrow = extra_key(inkwell, t.id, scopes=["keys.manage", "fonts.read"])

    # When it creates a key without naming permissions
    key = create(client, narrow, {"name": "Child"})

    # Then the child has exactly those two scopes, and no more
    assert sorted(key["permissions"]) == ["fonts.read", "keys.manage"]
    child = bearer(key["full_key"])
    assert client.get("/fonts", headers=child).status_code == 200
    denied = client.get("/balance", headers=child)
    assert denied.status_code == 403 and denied.json()["required_scope"] == "balance.read"


def test_key_with_chosen_permissions_gets_only_those(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a full-scope key
    t = make_tenant()

    # When it creates a read-only key, once via "permissions" and once via "scopes"
    by_permissions = create(
        client, t.headers, {"name": "Reader", "permissions": ["orders.read", "balance.read"]}
    )
    by_scopes = create(client, t.headers, {"name": "Reader 2", "scopes": ["fonts.read"]})

    # Then each carries only what was asked for, and is refused anything else
    assert sorted(by_permissions["permissions"]) == ["balance.read", "orders.read"]
    assert by_scopes["permissions"] == ["fonts.read"]
    reader = bearer(by_permissions["full_key"])
    assert client.get("/orders", headers=reader).status_code == 200
    refused = client.post("/orders", json=order_body(1), headers=reader)
    assert refused.status_code == 403, refused.text
    assert refused.json()["required_scope"] == "orders.create"


def test_a_key_cannot_grant_a_scope_it_lacks(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a key that holds only keys.manage
    t = make_tenant()
    _, manager = extra_key(inkwell, t.id, scopes=["keys.manage"])

    # When it asks for a key with orders.create
    r = client.post(
        "/keys", json={"name": "Escalate", "permissions": ["orders.create"]}, headers=manager
    )

    # Then it answers 403 forbidden naming orders.create, and no key is made
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["error"] == "forbidden"
    assert body["required_scope"] == "orders.create"
    assert "orders.create" in body["message"]
    assert body["suggestion"].strip()
    assert key_count(client, t) == 2

    # And a subset of its own scopes is fine
    ok = client.post(
        "/keys", json={"name": "Same", "permissions": ["keys.manage"]}, headers=manager
    )
    assert ok.status_code == 201, ok.text


def test_mixed_request_with_one_scope_too_many_is_refused_whole(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a key with keys.manage and orders.read
    t = make_tenant()
    _, caller = extra_key(inkwell, t.id, scopes=["keys.manage", "orders.read"])

    # When it asks for orders.read plus credits.topup
    r = client.post(
        "/keys",
        json={"name": "Mixed", "permissions": ["orders.read", "credits.topup"]},
        headers=caller,
    )

    # Then it is refused for credits.topup, and nothing is created
    assert r.status_code == 403, r.text
    assert r.json()["required_scope"] == "credits.topup"
    assert key_count(client, t) == 2


def test_unknown_scope_answers_400(client: httpx.Client, make_tenant: MakeTenant) -> None:
    # Given a full-scope key
    t = make_tenant()

    # When it asks for a scope that does not exist, alone or beside a real one
    alone = client.post(
        "/keys", json={"name": "X", "permissions": ["orders.delete"]}, headers=t.headers
    )
    mixed = client.post(
        "/keys", json={"name": "X", "permissions": ["orders.read", "admin"]}, headers=t.headers
    )
    empty = client.post("/keys", json={"name": "X", "permissions": []}, headers=t.headers)

    # Then each answers 400 validation_error naming permissions, and no key is made
    assert_refused(alone, "permissions")
    assert "orders.delete" in str(alone.json()["details"])
    assert_refused(mixed, "permissions")
    assert "admin" in str(mixed.json()["details"])
    assert_refused(empty, "permissions")
    assert key_count(client, t) == 1


def test_missing_or_blank_name_answers_400(client: httpx.Client, make_tenant: MakeTenant) -> None:
    # Given a full-scope key
    t = make_tenant()

    # When it creates a key with no name, a blank one, or one of 101 characters
    bodies: list[dict[str, Any]] = [
        {},
        {"permissions": ["orders.read"]},
        {"name": ""},
        {"name": "   "},
        {"name": None},
        {"name": "n" * 101},
    ]
    answers = [client.post("/keys", json=b, headers=t.headers) for b in bodies]

    # Then each answers 400 naming name, and no key is made
    for r in answers:
        assert_refused(r, "name")
    assert key_count(client, t) == 1


def test_expiry_in_the_past_answers_400(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a full-scope key
    t = make_tenant()
    now = inkwell.clock()

    # When it asks for keys that expired a minute ago, or in 2000
    past = client.post(
        "/keys",
        json={"name": "Old", "expires_at": (now - timedelta(minutes=1)).isoformat()},
        headers=t.headers,
    )
    ancient = client.post(
        "/keys", json={"name": "Old", "expires_at": "2000-01-01T00:00:00+00:00"}, headers=t.headers
    )

    # Then both answer 400 naming expires_at, and no key is made
    assert_refused(past, "expires_at")
    assert_refused(ancient, "expires_at")
    assert key_count(client, t) == 1


def test_future_expiry_is_kept_and_the_key_works_until_then(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a full-scope key
    t = make_tenant()
    when = (inkwell.clock() + timedelta(days=30)).replace(microsecond=0)

    # When it creates a key that expires in 30 days
    key = create(client, t.headers, {"name": "Month", "expires_at": when.isoformat()})

    # Then the expiry is kept, the key is active and works
    assert datetime.fromisoformat(key["expires_at"].replace("Z", "+00:00")) == when
    assert key["is_active"] is True
    assert client.get("/balance", headers=bearer(key["full_key"])).status_code == 200


# --- revoke --------------------------------------------------------------------------------


def test_a_key_cannot_revoke_itself(client: httpx.Client, make_tenant: MakeTenant) -> None:
    # Given a tenant's only key
    t = make_tenant()

    # When it tries to revoke itself
    r = client.delete(f"/keys/{t.key_id}", headers=t.headers)

    # Then it answers 409 self_revoke with a suggestion, and the key still works
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "self_revoke"
    assert body["message"].strip() and body["suggestion"].strip()
    listed = client.get("/keys", headers=t.headers)
    assert listed.status_code == 200
    assert [k["is_active"] for k in listed.json()["keys"]] == [True]


def test_revoking_another_key_makes_it_401(client: httpx.Client, make_tenant: MakeTenant) -> None:
    # Given a second key that works
    t = make_tenant()
    other = create(client, t.headers, {"name": "Temp"})
    other_headers = bearer(other["full_key"])
    assert client.get("/balance", headers=other_headers).status_code == 200

    # When the first key revokes it
    r = client.delete(f"/keys/{other['id']}", headers=t.headers)

    # Then it answers 200 with the key marked inactive
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"].strip()
    assert body["key"] == {"id": other["id"], "is_active": False}
    # And the revoked key now answers 401 revoked_api_key everywhere
    for path in ("/balance", "/orders", "/keys"):
        denied = client.get(path, headers=other_headers)
        assert denied.status_code == 401, denied.text
        assert denied.json()["error"] == "revoked_api_key"
    # And GET /keys shows it inactive with a revoked_at
    listed = {k["id"]: k for k in client.get("/keys", headers=t.headers).json()["keys"]}
    assert listed[other["id"]]["is_active"] is False
    assert listed[other["id"]]["revoked_at"] is not None
    assert listed[str(t.key_id)]["is_active"] is True


def test_revoking_twice_is_harmless(client: httpx.Client, make_tenant: MakeTenant) -> None:
    # Given a second key that has been revoked once
    t = make_tenant()
    other = create(client, t.headers, {"name": "Temp"})
    first = client.delete(f"/keys/{other['id']}", headers=t.headers)
    assert first.status_code == 200, first.text
    revoked_at = {k["id"]: k for k in client.get("/keys", headers=t.headers).json()["keys"]}[
        other["id"]
    ]["revoked_at"]

    # When it is revoked again
    second = client.delete(f"/keys/{other['id']}", headers=t.headers)

    # Then it answers 200 again, the key stays revoked, and its revoked_at is unchanged
    assert second.status_code == 200, second.text
    assert second.json()["key"] == {"id": other["id"], "is_active": False}
    after = {k["id"]: k for k in client.get("/keys", headers=t.headers).json()["keys"]}
    assert after[other["id"]]["revoked_at"] == revoked_at
    assert client.get("/balance", headers=bearer(other["full_key"])).status_code == 401


def test_a_child_key_can_revoke_its_parent(client: httpx.Client, make_tenant: MakeTenant) -> None:
    # Given a second full-scope key made by the first
    t = make_tenant()
    child = create(client, t.headers, {"name": "Successor"})

    # When the child revokes the first key (key rotation)
    r = client.delete(f"/keys/{t.key_id}", headers=bearer(child["full_key"]))

    # Then the first key is revoked and the child carries on
    assert r.status_code == 200, r.text
    assert client.get("/keys", headers=t.headers).json()["error"] == "revoked_api_key"
    assert client.get("/keys", headers=bearer(child["full_key"])).status_code == 200


def test_revoke_needs_keys_manage_and_leaves_the_key_alone(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a key without keys.manage and another key
    t = make_tenant()
    _, reader = extra_key(inkwell, t.id, scopes=["orders.read"])

    # When it tries to revoke the tenant's default key
    r = client.delete(f"/keys/{t.key_id}", headers=reader)

    # Then it answers 403 naming keys.manage, and the default key still works
    assert r.status_code == 403, r.text
    assert r.json()["required_scope"] == "keys.manage"
    assert client.get("/balance", headers=t.headers).status_code == 200


def test_keys_are_listed_oldest_first_with_their_fields(
    client: httpx.Client, make_tenant: MakeTenant, inkwell: Inkwell
) -> None:
    # Given a tenant with its default key and two more
    t = make_tenant()
    a = create(client, t.headers, {"name": "A", "permissions": ["orders.read"]})
    b = create(client, t.headers, {"name": "B"})

    # When it lists keys
    r = client.get("/keys", headers=t.headers)

    # Then all three are listed, oldest first, each with the documented fields
    assert r.status_code == 200, r.text
    listed = r.json()["keys"]
    assert [k["id"] for k in listed] == [str(t.key_id), a["id"], b["id"]]
    for k in listed:
        assert set(k) == {
            "id",
            "name",
            "key_prefix",
            "mode",
            "permissions",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "is_active",
            "created_at",
        }
    assert listed[1]["permissions"] == ["orders.read"]
    # And the rows in the database match the count
    with inkwell.uow() as uow:
        count = uow.session.scalar(
            sa.select(sa.func.count()).where(tables.ApiKey.tenant_id == t.id)
        )
    assert count == 3
