"""No endpoint answers 500 for malformed input. Bad JSON, bodies that are not objects, wrong
types in every field, deep nesting, odd unicode, NUL bytes, huge strings and numbers, bad
query parameters: each answers 4xx in the documented `{"error", "message", "suggestion"}`
shape. Bodies over the stated limit answer 413, unknown paths 404, wrong methods 405."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.serve import ServerThread
from engine.bootstrap import Inkwell, bootstrap
from tests.conftest import (
    PARTNER,
    MakeTenant,
    TenantHandle,
    _admin,
    _pg_url,
    make_settings,
    order_body,
    recipient,
)

JSON = {"content-type": "application/json"}
VALID_KEY = {"name": "A key"}


def assert_error_shape(r: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A 4xx (or exactly `status`) JSON answer with a non-empty error, message, suggestion."""
    if status is None:
        assert 400 <= r.status_code < 500, f"{r.status_code}: {r.text[:500]}"
    else:
        assert r.status_code == status, f"{r.status_code}: {r.text[:500]}"
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body, dict), body
    for key in ("error", "message", "suggestion"):
        assert isinstance(body.get(key), str) and body[key].strip(), f"no {key}: {body}"
    assert "Traceback" not in r.text and 'File "' not in r.text
    return dict(body)


def assert_validation_error(
    r: httpx.Response, field: str, index: int | None = None
) -> dict[str, Any]:
    """400 validation_error with a detail for `field` (at recipient `index`)."""
    body = assert_error_shape(r, 400)
    assert body["error"] == "validation_error", body
    details = body.get("details") or []
    assert any(
        d.get("field") == field and d.get("recipient_index") == index and d.get("error")
        for d in details
    ), f"no detail for {field!r} at {index}: {details}"
    return body


def untouched(client: httpx.Client, t: TenantHandle, credits: int) -> None:
    """Nothing was ordered or charged, and only the tenant's first key exists."""
    assert client.get("/balance", headers=t.headers).json()["balance_cents"] == credits
    assert client.get("/orders", headers=t.headers).json()["pagination"]["total"] == 0
    assert len(client.get("/keys", headers=t.headers).json()["keys"]) == 1


def nested(depth: int, leaf: object = 1) -> object:
    value: object = leaf
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


# Hundreds of requests here only read and refuse, so the module shares one migrated Postgres
# database and one served app; every test still gets its own tenant (its own wallet, orders
# and keys) and its own HTTP connection.


@pytest.fixture(scope="module")
def shared_inkwell(pg_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inkwell]:
    name = f"inkwell_t_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    app = bootstrap(make_settings(_pg_url(name), tmp_path_factory.mktemp("malformed")))
    try:
        yield app
    finally:
        app.close()
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def server(shared_inkwell: Inkwell) -> Iterator[ServerThread]:
    running = ServerThread(create_app(shared_inkwell)).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def inkwell(shared_inkwell: Inkwell) -> Inkwell:
    """This module's shared Inkwell (overrides the per-test one; `make_tenant` uses it)."""
    return shared_inkwell


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    """A fresh connection to the module's server (a 500 may close a kept-alive one)."""
    with httpx.Client(base_url=server.url + PARTNER, timeout=30) as c:
        yield c


@pytest.fixture
def tenant(make_tenant: MakeTenant) -> TenantHandle:
    return make_tenant(credits_cents=10_000, name=f"Tenant {uuid.uuid4().hex[:8]}")


# --- bodies that are not JSON objects ----------------------------------------------------

BAD_BODIES: dict[str, bytes] = {
    "truncated object": b'{"message_body": "Hi",',
    "not json": b"this is not json",
    "single quotes": b"{'message_body': 'Hi'}",
    "trailing comma": b'{"message_body": "Hi",}',
    "empty": b"",
    "whitespace": b"   \n  ",
    "array": b"[]",
    "array of objects": json.dumps([order_body(1)]).encode(),
    "string": b'"an order please"',
    "number": b"42",
    "float": b"3.14",
    "null": b"null",
    "true": b"true",
    "two objects": b"{}{}",
    "deeply nested arrays": b"[" * 100_000 + b"]" * 100_000,
    "deeply nested objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "invalid utf-8": b'{"message_body": "\xff\xfe\xfd"}',
    "huge integer": b'{"message_body": ' + b"9" * 5000 + b"}",
    "nul byte outside strings": b'{"message_body":\x00 "Hi"}',
    "control chars": b'{"message_body": "\x01\x02"}',
}


@pytest.mark.parametrize("path", ["/orders", "/keys"])
@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bodies_that_are_not_json_objects_answer_400(
    client: httpx.Client, tenant: TenantHandle, path: str, name: str
) -> None:
    # Given a tenant with $100.00
    # When it posts a body that is not a JSON object
    r = client.post(path, content=BAD_BODIES[name], headers={**tenant.headers, **JSON})

    # Then it answers 400 in the documented shape, and nothing was created
    assert_error_shape(r, 400)
    untouched(client, tenant, 10_000)


@pytest.mark.parametrize(
    "headers",
    [{}, {"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}],
    ids=["no content type", "text/plain", "form"],
)
def test_posting_without_a_json_body_answers_400(
    client: httpx.Client, tenant: TenantHandle, headers: dict[str, str]
) -> None:
    # Given a tenant
    # When it posts to /orders with no body, or a body that is not declared JSON
    empty = client.post("/orders", headers={**tenant.headers, **headers})
    form = client.post("/orders", content=b"a=b&c=d", headers={**tenant.headers, **headers})

    # Then both answer 400 in the documented shape
    assert_error_shape(empty, 400)
    assert_error_shape(form, 400)
    untouched(client, tenant, 10_000)


# --- wrong types in every order field ----------------------------------------------------

ORDER_FIELD_CASES: list[tuple[str, object]] = [
    ("message_body", 42),
    ("message_body", ["Dear John"]),
    ("message_body", {"text": "Dear John"}),
    ("message_body", True),
    ("product_type", 1),
    ("product_type", ["letter"]),
    ("product_type", {"type": "letter"}),
    ("paper_type", 2.5),
    ("paper_type", ["standard"]),
    ("envelope_type", 0),
    ("envelope_type", {}),
    ("handwriting_style", 12345),
    ("handwriting_style", {"id": "x"}),
    ("handwriting_style", ["x"]),
    ("return_address", "123 Main St"),
    ("return_address", ["123 Main St"]),
    ("return_address", 7),
    ("return_address", {"name": 1, "line1": [], "city": {}, "state": 5, "zip": 10001}),
    ("skip_invalid", "yes"),
    ("skip_invalid", 1),
    ("skip_invalid", []),
    ("send_date", 1767225600),
    ("send_date", {"date": "2026-01-01"}),
    ("send_date", "next tuesday"),
    ("mailing_option", 3),
    ("authenticity_preset", 5),
    ("authenticity_preset", ["x"]),
    ("recipients", "John Doe"),
    ("recipients", 1),
    ("recipients", {"first_name": "John"}),
    ("recipients", []),
    ("recipients", None),
    ("recipients", True),
]


@pytest.mark.parametrize(
    ("field", "value"),
    ORDER_FIELD_CASES,
    ids=[f"{f}={json.dumps(v)[:30]}" for f, v in ORDER_FIELD_CASES],
)
def test_wrong_type_in_an_order_field_answers_400_naming_it(
    client: httpx.Client, tenant: TenantHandle, field: str, value: object
) -> None:
    # Given an otherwise valid order with one field of the wrong type
    body = order_body(1, **{field: value})

    # When it is posted
    r = client.post("/orders", json=body, headers=tenant.headers)

    # Then it answers 400 validation_error naming that field, and nothing is charged
    assert_validation_error(r, field)
    untouched(client, tenant, 10_000)


@pytest.mark.parametrize("item", [1, "John", None, [], ["John"], True])
def test_a_recipient_that_is_not_an_object_answers_400(
    client: httpx.Client, tenant: TenantHandle, item: object
) -> None:
    # Given an order whose second recipient is not an object
    body = order_body(2)
    body["recipients"] = [recipient(), item]

    # When it is posted
    r = client.post("/orders", json=body, headers=tenant.headers)

    # Then it answers 400 naming recipient 1
    body_out = assert_error_shape(r, 400)
    assert body_out["error"] == "validation_error"
    assert any(d.get("recipient_index") == 1 for d in body_out["details"]), body_out
    untouched(client, tenant, 10_000)


RECIPIENT_FIELD_CASES: list[tuple[str, object]] = [
    ("first_name", 1),
    ("first_name", ["John"]),
    ("last_name", {"name": "Doe"}),
    ("last_name", False),
    ("address_line1", 456),
    ("address_line1", ["456 Oak Ave"]),
    ("address_line2", 100),
    ("address_line2", {"suite": 100}),
    ("city", True),
    ("city", ["Los Angeles"]),
    ("state", 12),
    ("state", ["CA"]),
    ("zip", 90001),
    ("zip", 90001.0),
    ("zip", ["90001"]),
    ("country", 1),
    ("country", ["US"]),
    ("country", {"code": "US"}),
    ("custom_fields", ["company", "Acme Inc"]),
    ("custom_fields", "company=Acme"),
    ("custom_fields", 5),
    ("custom_fields", {"company": {"name": "Acme"}}),
    ("custom_fields", {"company": ["Acme"]}),
]


@pytest.mark.parametrize(
    ("field", "value"),
    RECIPIENT_FIELD_CASES,
    ids=[f"{f}={json.dumps(v)[:30]}" for f, v in RECIPIENT_FIELD_CASES],
)
def test_wrong_type_in_a_recipient_field_answers_400_naming_it(
    client: httpx.Client, tenant: TenantHandle, field: str, value: object
) -> None:
    # Given an order whose first recipient has one field of the wrong type
    body = order_body(1, recipients=[recipient(**{field: value})])

    # When it is posted
    r = client.post("/orders", json=body, headers=tenant.headers)

    # Then it answers 400 naming that field of recipient 0, and nothing is charged
    assert_validation_error(r, field, 0)
    untouched(client, tenant, 10_000)


def test_every_field_wrong_at_once_answers_400_naming_each(
    client: httpx.Client, tenant: TenantHandle
) -> None:
    # Given an order in which every field has the wrong type
    body = {
        "message_body": 1,
        "product_type": 2,
        "paper_type": 3,
        "envelope_type": 4,
        "handwriting_style": 5,
        "return_address": 6,
        "skip_invalid": "no",
        "send_date": 7,
        "recipients": [{field: 8 for field in ("first_name", "last_name", "address_line1")}],
    }

    # When it is posted
    r = client.post("/orders", json=body, headers=tenant.headers)

    # Then one 400 names every problem, not just the first
    out = assert_error_shape(r, 400)
    fields = {(d["field"], d.get("recipient_index")) for d in out["details"]}
    expected: set[tuple[str, int | None]] = {(f, None) for f in body if f != "recipients"}
    expected |= {("first_name", 0), ("last_name", 0), ("address_line1", 0)}
    assert expected <= fields, fields
    untouched(client, tenant, 10_000)


# --- deep nesting, huge values -----------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "field", "index"),
    [
        ("message_body", "message_body", None),
        ("return_address", "return_address", None),
        ("recipients", "recipients", None),
        ("custom_fields", "custom_fields", 0),
        ("first_name", "first_name", 0),
    ],
)
def test_deeply_nested_junk_in_a_field_answers_400(
    client: httpx.Client, tenant: TenantHandle, where: str, field: str, index: int | None
) -> None:
    # Given a 400-level nest of lists and objects where a simple value belongs
    junk = nested(400)
    if index is None:
        body = order_body(1, **{where: junk})
        if where == "recipients":
            body["recipients"] = [[junk]]
            field, index = "recipient", 0
    else:
        body = order_body(1, recipients=[recipient(**{where: junk})])

    # When it is posted
    r = client.post("/orders", json=body, headers=tenant.headers)

    # Then it answers 400 naming the field
    assert_validation_error(r, field, index)
    untouched(client, tenant, 10_000)


def test_many_unknown_fields_answer_400_naming_each(
    client: httpx.Client, tenant: TenantHandle
) -> None:
    # Given an order with 500 unknown top-level fields and a deep unknown one
    extra: dict[str, object] = {f"junk_{i}": {"x": [i]} for i in range(500)}
    extra["nest"] = nested(300)
    body = order_body(1, **extra)

    # When it is posted
    r = client.post("/orders", json=body, headers=tenant.headers)

    # Then each one is named
    out = assert_validation_error(r, "junk_499")
    assert {d["field"] for d in out["details"]} >= {"junk_0", "nest"}
    untouched(client, tenant, 10_000)


LONG = "x" * 10_000

LONG_ORDER_CASES: list[tuple[str, dict[str, object], str, int | None]] = [
    ("message_body", order_body(1, message_body=LONG), "message_body", None),
    ("handwriting_style", order_body(1, handwriting_style=LONG), "handwriting_style", None),
    ("authenticity_preset", order_body(1, authenticity_preset=LONG), "authenticity_preset", None),
    ("product_type", order_body(1, product_type=LONG), "product_type", None),
    ("send_date", order_body(1, send_date=LONG), "send_date", None),
    ("unknown field name", order_body(1, **{LONG: 1}), LONG, None),
    ("return_address.name", order_body(1, return_address={"name": LONG}), "return_address", None),
    *[
        (f, order_body(1, recipients=[recipient(**{f: LONG})]), f, 0)
        for f in (
            "first_name",
            "last_name",
            "address_line1",
            "address_line2",
            "city",
            "state",
            "zip",
            "country",
        )
    ],
    (
        "custom_fields key",
        order_body(1, recipients=[recipient(custom_fields={LONG: "v"})]),
        "custom_fields",
        0,
    ),
    (
        "custom_fields value",
        order_body(1, recipients=[recipient(custom_fields={"k": LONG})]),
        "custom_fields",
        0,
    ),
]


@pytest.mark.parametrize(
    ("body", "field", "index"),
    [c[1:] for c in LONG_ORDER_CASES],
    ids=[c[0] for c in LONG_ORDER_CASES],
)
def test_ten_thousand_character_strings_answer_400(
    client: httpx.Client,
    tenant: TenantHandle,
    body: dict[str, object],
    field: str,
    index: int | None,
) -> None:
    # Given an order with one 10,000-character string
    # When it is posted
    r = client.post("/orders", json=body, headers=tenant.headers)

    # Then it answers 400 naming the field
    assert_validation_error(r, field, index)
    untouched(client, tenant, 10_000)


def test_too_many_recipients_answers_400(client: httpx.Client, tenant: TenantHandle) -> None:
    # Given an order for 1,000 recipients (the limit is 100)
    # When it is posted
    r = client.post("/orders", json=order_body(1000), headers=tenant.headers)

    # Then it answers 400 naming recipients
    assert_validation_error(r, "recipients")
    untouched(client, tenant, 10_000)


# --- unicode and NUL bytes -----------------------------------------------------------------


def test_valid_unicode_is_accepted_and_kept(client: httpx.Client, tenant: TenantHandle) -> None:
    # Given an order with accents, CJK, right-to-left text and emoji
    body = order_body(
        1,
        message_body="Chère Zoë, 谢谢 — شكرا 🎉",
        recipients=[
            recipient(
                first_name="José",
                last_name="Ångström-日本",
                city="Zürich",
                custom_fields={"note": "✓ ok 🚀"},
            )
        ],
    )

    # When it is posted and read back
    r = client.post("/orders", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    detail = client.get(f"/orders/{r.json()['order']['id']}", headers=tenant.headers).json()

    # Then every character survives
    order = detail["order"]
    assert order["message_body"] == "Chère Zoë, 谢谢 — شكرا 🎉"
    person = order["recipients"][0]
    assert (person["first_name"], person["last_name"], person["city"]) == (
        "José",
        "Ångström-日本",
        "Zürich",
    )
    assert person["custom_fields"] == {"note": "✓ ok 🚀"}


UNICODE_CASES: list[tuple[str, dict[str, object], str, int | None]] = [
    ("emoji state", order_body(1, recipients=[recipient(state="🇨🇦")]), "state", 0),
    ("fullwidth state", order_body(1, recipients=[recipient(state="\uff23\uff21")]), "state", 0),
    (
        "fullwidth zip",
        order_body(1, recipients=[recipient(zip="\uff19\uff10\uff10\uff10\uff11")]),
        "zip",
        0,
    ),
    (
        "arabic-indic zip",
        order_body(1, recipients=[recipient(zip="\u0669\u0660\u0660\u0660\u0661")]),
        "zip",
        0,
    ),
    (
        "cyrillic country",
        order_body(1, recipients=[recipient(country="\u0423\u0421")]),
        "country",
        0,
    ),
    ("unicode product", order_body(1, product_type="lettér"), "product_type", None),
    ("unicode field name", order_body(1, **{"méssage_body": "x"}), "méssage_body", None),
    (
        "unicode font",
        order_body(
            1, handwriting_style="\U0001d4c8\U0001d4b8\U0001d4c7\U0001d4be\U0001d4c5\U0001d4c9"
        ),
        "handwriting_style",
        None,
    ),
]


@pytest.mark.parametrize(
    ("body", "field", "index"),
    [c[1:] for c in UNICODE_CASES],
    ids=[c[0] for c in UNICODE_CASES],
)
def test_unicode_where_it_does_not_belong_answers_400(
    client: httpx.Client,
    tenant: TenantHandle,
    body: dict[str, object],
    field: str,
    index: int | None,
) -> None:
    # Given an order with unicode in a field that only takes a code, a name or ASCII digits
    # When it is posted
    r = client.post("/orders", json=body, headers=tenant.headers)

    # Then it answers 400 naming the field
    assert_validation_error(r, field, index)
    untouched(client, tenant, 10_000)


LONE_SURROGATE = "\ud800"
NUL = "\x00"

UNSTORABLE_ORDER_CASES: list[tuple[str, dict[str, object]]] = [
    ("NUL in message_body", order_body(1, message_body=f"Dear John{NUL}")),
    ("NUL in first_name", order_body(1, recipients=[recipient(first_name=f"Jo{NUL}hn")])),
    ("NUL in city", order_body(1, recipients=[recipient(city=f"{NUL}Los Angeles")])),
    ("NUL in address_line2", order_body(1, recipients=[recipient(address_line2=NUL * 3)])),
    (
        "NUL in custom_fields value",
        order_body(1, recipients=[recipient(custom_fields={"company": f"Acme{NUL}"})]),
    ),
    (
        "NUL in custom_fields key",
        order_body(1, recipients=[recipient(custom_fields={f"comp{NUL}any": "Acme"})]),
    ),
    (
        "NUL in return_address",
        order_body(
            1,
            return_address={
                "name": f"My{NUL}Co",
                "line1": "123 Main St",
                "city": "New York",
                "state": "NY",
                "zip": "10001",
            },
        ),
    ),
    ("lone surrogate in message_body", order_body(1, message_body=f"Hi {LONE_SURROGATE}")),
    (
        "lone surrogate in last_name",
        order_body(1, recipients=[recipient(last_name=f"Doe{LONE_SURROGATE}")]),
    ),
    (
        "lone surrogate in custom_fields",
        order_body(1, recipients=[recipient(custom_fields={"k": LONE_SURROGATE})]),
    ),
    ("NaN in custom_fields", order_body(1, recipients=[recipient(custom_fields={"k": "NaN"})])),
    (
        "Infinity in custom_fields",
        order_body(1, recipients=[recipient(custom_fields={"k": "Infinity"})]),
    ),
]


def raw_json(body: dict[str, object]) -> bytes:
    """JSON with lone surrogates kept as \\u escapes and NaN/Infinity as bare literals."""
    text = json.dumps(body)  # ensure_ascii: every non-ASCII char, surrogates too, escaped
    return text.replace('"NaN"', "NaN").replace('"Infinity"', "Infinity").encode()


@pytest.mark.parametrize(
    "body", [c[1] for c in UNSTORABLE_ORDER_CASES], ids=[c[0] for c in UNSTORABLE_ORDER_CASES]
)
def test_nul_bytes_surrogates_and_non_finite_numbers_answer_4xx(
    client: httpx.Client, tenant: TenantHandle, body: dict[str, object]
) -> None:
    # Given an otherwise valid order carrying a value no database text or JSON column can
    # hold: a NUL byte, a lone UTF-16 surrogate, or NaN/Infinity
    content = raw_json(body)

    # When it is posted
    r = client.post("/orders", content=content, headers={**tenant.headers, **JSON})

    # Then it answers 4xx in the documented shape (not 500), and nothing is charged
    assert_error_shape(r)
    untouched(client, tenant, 10_000)


# --- POST /keys ---------------------------------------------------------------------------

KEY_CASES: list[tuple[str, dict[str, object], str]] = [
    ("name number", {"name": 42}, "name"),
    ("name list", {"name": ["a"]}, "name"),
    ("name object", {"name": {"a": 1}}, "name"),
    ("name null", {"name": None}, "name"),
    ("name blank", {"name": "   "}, "name"),
    ("name 10k", {"name": LONG}, "name"),
    ("name deep", {"name": nested(300)}, "name"),
    ("permissions string", {**VALID_KEY, "permissions": "orders.read"}, "permissions"),
    ("permissions numbers", {**VALID_KEY, "permissions": [1, 2]}, "permissions"),
    ("permissions object", {**VALID_KEY, "permissions": {"orders.read": True}}, "permissions"),
    ("permissions nested", {**VALID_KEY, "permissions": [["orders.read"]]}, "permissions"),
    ("permissions 10k", {**VALID_KEY, "permissions": [LONG]}, "permissions"),
    ("permissions unicode", {**VALID_KEY, "permissions": ["ordérs.read"]}, "permissions"),
    ("permissions NUL", {**VALID_KEY, "permissions": [f"orders.read{NUL}"]}, "permissions"),
    ("scopes number", {**VALID_KEY, "scopes": 7}, "permissions"),
    ("expires_at number", {**VALID_KEY, "expires_at": 1893456000}, "expires_at"),
    ("expires_at words", {**VALID_KEY, "expires_at": "tomorrow"}, "expires_at"),
    ("expires_at object", {**VALID_KEY, "expires_at": {"days": 1}}, "expires_at"),
    ("expires_at naive", {**VALID_KEY, "expires_at": "2099-01-01T00:00:00"}, "expires_at"),
    ("expires_at 10k", {**VALID_KEY, "expires_at": LONG}, "expires_at"),
    ("expires_at bad date", {**VALID_KEY, "expires_at": "2099-13-45T00:00:00Z"}, "expires_at"),
    ("unknown field", {**VALID_KEY, "admin": True}, "admin"),
]


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in KEY_CASES], ids=[c[0] for c in KEY_CASES]
)
def test_wrong_input_to_create_key_answers_400_naming_the_field(
    client: httpx.Client, tenant: TenantHandle, body: dict[str, object], field: str
) -> None:
    # Given a tenant with one key
    # When it asks for a key with a malformed field
    r = client.post("/keys", json=body, headers=tenant.headers)

    # Then it answers 400 naming the field, and no key was made
    assert_validation_error(r, field)
    untouched(client, tenant, 10_000)


@pytest.mark.parametrize(
    "name", [f"My{NUL}key", f"key {LONE_SURROGATE}"], ids=["NUL byte", "lone surrogate"]
)
def test_unstorable_key_name_answers_4xx(
    client: httpx.Client, tenant: TenantHandle, name: str
) -> None:
    # Given a key name no database text column can hold
    content = raw_json({"name": name})

    # When a key is requested with it
    r = client.post("/keys", content=content, headers={**tenant.headers, **JSON})

    # Then it answers 4xx in the documented shape (not 500), and no key was made
    assert_error_shape(r)
    untouched(client, tenant, 10_000)


# --- query parameters ---------------------------------------------------------------------

QUERY_CASES: list[tuple[dict[str, object], str]] = [
    ({"page": "abc"}, "page"),
    ({"page": "1.5"}, "page"),
    ({"page": ""}, "page"),
    ({"page": 0}, "page"),
    ({"page": -1}, "page"),
    ({"page": "9" * 5000}, "page"),
    ({"limit": "ten"}, "limit"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"limit": 10**30}, "limit"),
    ({"status": "bogus"}, "status"),
    ({"status": NUL}, "status"),
    ({"status": "pending," + LONG}, "status"),
    ({"status": "pendíng"}, "status"),
    ({"sort": "password"}, "sort"),
    ({"sort": "__class__"}, "sort"),
    ({"sort": "created_at; DROP TABLE orders"}, "sort"),
    ({"order": "sideways"}, "order"),
    ({"order": LONG}, "order"),
]


@pytest.mark.parametrize(
    ("params", "field"), QUERY_CASES, ids=[f"{k}" for k in range(len(QUERY_CASES))]
)
def test_bad_list_parameters_answer_400_naming_them(
    client: httpx.Client, tenant: TenantHandle, params: dict[str, object], field: str
) -> None:
    # Given a tenant with one order
    created = client.post("/orders", json=order_body(1), headers=tenant.headers)
    assert created.status_code == 201, created.text

    # When it lists orders with a malformed parameter
    r = client.get("/orders", params=params, headers=tenant.headers)  # type: ignore[arg-type]

    # Then it answers 400 naming the parameter
    assert_validation_error(r, field)


@pytest.mark.parametrize("page", [10**17, 10**18, 10**19, 10**30])
def test_a_page_far_beyond_the_end_is_empty_or_400_never_500(
    client: httpx.Client, tenant: TenantHandle, page: int
) -> None:
    # Given a tenant with one order
    created = client.post("/orders", json=order_body(1), headers=tenant.headers)
    assert created.status_code == 201, created.text

    # When it asks for an absurdly large page number
    r = client.get("/orders", params={"page": page, "limit": 100}, headers=tenant.headers)

    # Then it gets an empty page or a 400 naming `page`, never a 500
    if r.status_code == 200:
        assert r.json()["orders"] == []
        assert r.json()["pagination"]["total"] == 1
    else:
        assert_validation_error(r, "page")


# --- bodies over the limit: 413 ----------------------------------------------------------


def oversized(limit: int) -> bytes:
    """A syntactically valid order just over `limit` bytes."""
    body = order_body(1, message_body="")
    base = len(json.dumps(body).encode())
    body["message_body"] = "x" * (limit - base + 1)
    data = json.dumps(body).encode()
    assert len(data) == limit + 1
    return data


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("path", ["/orders", "/keys"])
def test_body_over_the_limit_with_content_length_answers_413(
    client: httpx.Client, tenant: TenantHandle, inkwell: Inkwell, path: str
) -> None:
    # Given a body one byte over the stated limit, sent with a Content-Length
    limit = inkwell.settings.max_body_bytes
    assert limit == 1_048_576
    data = oversized(limit)

    # When it is posted
    r = client.post(path, content=data, headers={**tenant.headers, **JSON})

    # Then it answers 413 payload_too_large in the documented shape
    assert "content-length" in r.request.headers
    body = assert_error_shape(r, 413)
    assert body["error"] == "payload_too_large"
    # And nothing was created, and the server still answers
    untouched(client, tenant, 10_000)


@pytest.mark.parametrize("path", ["/orders", "/keys"])
def test_chunked_body_over_the_limit_answers_413(
    client: httpx.Client, tenant: TenantHandle, inkwell: Inkwell, path: str
) -> None:
    # Given a body one byte over the stated limit, streamed without a Content-Length
    data = oversized(inkwell.settings.max_body_bytes)

    # When it is posted with chunked transfer encoding
    r = client.post(path, content=chunks(data), headers={**tenant.headers, **JSON})

    # Then it answers 413 payload_too_large in the documented shape
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in r.request.headers
    body = assert_error_shape(r, 413)
    assert body["error"] == "payload_too_large"
    untouched(client, tenant, 10_000)


def test_huge_declared_length_answers_413_without_sending_it(
    server: ServerThread, tenant: TenantHandle
) -> None:
    # Given a request that declares a 1 GiB body but sends only two bytes of it
    url = httpx.URL(server.url)
    head = (
        f"POST {PARTNER}/orders HTTP/1.1\r\n"
        f"Host: {url.host}:{url.port}\r\n"
        f"Authorization: Bearer {tenant.key}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {1 << 30}\r\n\r\n"
        "{}"
    )

    # When it is sent over a raw connection
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk

    # Then the declared length alone earns a 413 payload_too_large, without waiting for it
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413", answer[:500]
    payload = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert payload["error"] == "payload_too_large"
    assert payload["message"] and payload["suggestion"]


def test_large_body_under_the_limit_is_read_and_validated(
    client: httpx.Client, tenant: TenantHandle, inkwell: Inkwell
) -> None:
    # Given a body two bytes under the limit (its message far too long), chunked and not
    data = oversized(inkwell.settings.max_body_bytes - 3)

    # When it is posted both ways
    plain = client.post("/orders", content=data, headers={**tenant.headers, **JSON})
    streamed = client.post("/orders", content=chunks(data), headers={**tenant.headers, **JSON})

    # Then it is read, not refused for size: 400 naming message_body both times
    assert_validation_error(plain, "message_body")
    assert_validation_error(streamed, "message_body")
    untouched(client, tenant, 10_000)


def test_chunked_valid_order_under_the_limit_is_accepted(
    client: httpx.Client, tenant: TenantHandle
) -> None:
    # Given a valid order streamed in small chunks without a Content-Length
    data = json.dumps(order_body(3)).encode()

    # When it is posted
    r = client.post("/orders", content=chunks(data, 50), headers={**tenant.headers, **JSON})

    # Then it is accepted whole
    assert r.status_code == 201, r.text
    assert r.json()["order"]["recipient_count"] == 3


# --- unknown paths and wrong methods ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/nope"),
        ("POST", "/nope"),
        ("GET", "/orders/00000000-0000-0000-0000-000000000000/nonsense"),
        ("GET", "/balance/extra"),
        ("GET", "/api/v1/partner"),
        ("GET", "/../../etc/passwd"),
        ("GET", "/" + LONG[:4000]),
    ],
)
def test_unknown_path_answers_404_json(
    client: httpx.Client, tenant: TenantHandle, method: str, url: str
) -> None:
    # Given a tenant
    # When it calls a path that does not exist
    r = client.request(method, url, headers=tenant.headers)

    # Then it answers 404 not_found in the documented shape
    assert assert_error_shape(r, 404)["error"] == "not_found"


def test_unknown_path_outside_the_api_answers_404_json(client: httpx.Client) -> None:
    # Given no key at all
    # When a path outside the partner API is requested
    r = client.get(str(client.base_url.copy_with(path="/no/such/thing")))

    # Then it answers 404 not_found in the documented shape
    assert assert_error_shape(r, 404)["error"] == "not_found"


WRONG_METHODS: list[tuple[str, str]] = [
    ("PUT", "/orders"),
    ("DELETE", "/orders"),
    ("PATCH", "/orders"),
    ("PUT", "/orders/{id}"),
    ("DELETE", "/orders/{id}"),
    ("GET", "/orders/{id}/cancel"),
    ("POST", "/balance"),
    ("DELETE", "/balance"),
    ("POST", "/fonts"),
    ("PUT", "/keys"),
    ("GET", "/keys/{key}"),
    ("PATCH", "/keys/{key}"),
]


@pytest.mark.parametrize(
    ("method", "path"), WRONG_METHODS, ids=[f"{m} {p}" for m, p in WRONG_METHODS]
)
def test_wrong_method_answers_405_json(
    client: httpx.Client, tenant: TenantHandle, method: str, path: str
) -> None:
    # Given a tenant with an order
    created = client.post("/orders", json=order_body(1), headers=tenant.headers)
    assert created.status_code == 201, created.text
    url = path.format(id=created.json()["order"]["id"], key=tenant.key_id)

    # When a path is called with a method it does not take
    r = client.request(method, url, json={}, headers=tenant.headers)

    # Then it answers 405 in the documented shape, and nothing changed
    assert_error_shape(r, 405)
    order = client.get(f"/orders/{created.json()['order']['id']}", headers=tenant.headers)
    assert order.json()["order"]["status"] == "pending"
    assert client.get("/balance", headers=tenant.headers).json()["balance_cents"] == 10_000 - 298


def test_405_says_which_methods_are_allowed(client: httpx.Client, tenant: TenantHandle) -> None:
    # Given a path that takes GET and POST
    # When it is called with DELETE
    r = client.delete("/orders", headers=tenant.headers)

    # Then the 405 carries an Allow header listing them (RFC 9110 §15.5.6)
    assert r.status_code == 405, r.text
    allowed = {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}
    assert {"GET", "POST"} <= allowed, r.headers


# --- headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Bearer " + "x" * 10_000,
        "Bearer ink_test_" + "é" * 32,
        "Bearer ink_test_" + "a" * 16 + "\t" + "a" * 15,
        "Bearer  ink_test_",
    ],
    ids=["10k token", "latin-1 token", "tab in token", "prefix only"],
)
def test_malformed_authorization_values_answer_401_not_500(
    client: httpx.Client, value: str
) -> None:
    # Given an Authorization header with junk in it
    headers = {"Authorization": value.encode("latin-1")}

    # When it is used
    r = client.get("/balance", headers=headers)  # type: ignore[arg-type]

    # Then it answers 401 malformed_api_key
    assert assert_error_shape(r, 401)["error"] == "malformed_api_key"
