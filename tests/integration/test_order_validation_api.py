"""Every order field rule over real HTTP: the 400 shape, the exact field and recipient,
nothing created and nothing charged; skip_invalid, fonts, 402, and the list endpoint."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import MakeTenant, TenantHandle, order_body, recipient

Case = tuple[str, dict[str, object], str, int | None]


def details_of(r: httpx.Response) -> list[dict[str, Any]]:
    return list(r.json().get("details") or [])


def refusal_problem(r: httpx.Response, field: str, index: int | None) -> str | None:
    """Why `r` is not a proper 400 naming `field` (at `index`), or None when it is."""
    if r.status_code != 400:
        return f"status {r.status_code}: {r.text[:300]}"
    body = r.json()
    if body.get("error") != "validation_error":
        return f"error code {body.get('error')!r}"
    for key in ("message", "suggestion"):
        if not isinstance(body.get(key), str) or not body[key]:
            return f"no {key} in {body}"
    details = body.get("details")
    if not isinstance(details, list) or not details:
        return f"no details in {body}"
    for d in details:
        if set(d) - {"recipient_index", "field", "error"} or not d.get("error"):
            return f"malformed detail {d}"
    if not any(d["field"] == field and d.get("recipient_index") == index for d in details):
        return f"no detail for field {field!r} at recipient_index {index}: {details}"
    return None


def assert_refused(r: httpx.Response, field: str, index: int | None = None) -> dict[str, Any]:
    problem = refusal_problem(r, field, index)
    assert problem is None, problem
    return dict(r.json())


def snapshot(client: httpx.Client, t: TenantHandle) -> tuple[int, int, int]:
    """(available balance, held, number of orders) as the partner sees them."""
    balance = client.get("/balance", headers=t.headers)
    orders = client.get("/orders", headers=t.headers)
    assert balance.status_code == 200, balance.text
    assert orders.status_code == 200, orders.text
    return (
        balance.json()["balance_cents"],
        balance.json()["held_cents"],
        orders.json()["pagination"]["total"],
    )


def run_cases(
    client: httpx.Client, t: TenantHandle, cases: list[Case], build: Callable[..., Any]
) -> list[str]:
    failures = []
    for name, overrides, field, index in cases:
        r = client.post("/orders", json=build(overrides), headers=t.headers)
        problem = refusal_problem(r, field, index)
        if problem:
            failures.append(f"{name}: {problem}")
    return failures


def in_days(days: float, *, aware: bool = True) -> str:
    when = datetime.now(UTC) + timedelta(days=days)
    return when.isoformat() if aware else when.replace(tzinfo=None).isoformat()


# --- the field rules, each refused with its field -------------------------------------

TOP_LEVEL_CASES: list[Case] = [
    ("message_body missing", {"message_body": None}, "message_body", None),
    ("message_body empty", {"message_body": ""}, "message_body", None),
    ("message_body blank", {"message_body": "   "}, "message_body", None),
    ("message_body 7501", {"message_body": "m" * 7_501}, "message_body", None),
    ("message_body not text", {"message_body": 12}, "message_body", None),
    ("product_type", {"product_type": "poster"}, "product_type", None),
    ("paper_type", {"paper_type": "glossy"}, "paper_type", None),
    ("envelope_type", {"envelope_type": "window"}, "envelope_type", None),
    (
        "postcard in an envelope",
        {"product_type": "postcard", "envelope_type": "standard"},
        "envelope_type",
        None,
    ),
    ("mailing_option", {"mailing_option": "pigeon"}, "mailing_option", None),
    ("return_address not an object", {"return_address": "Austin"}, "return_address", None),
    (
        "return_address without a name",
        {"return_address": {"line1": "1 Main St", "city": "Austin", "state": "TX", "zip": "78701"}},
        "return_address",
        None,
    ),
    (
        "return_address bad state",
        {
            "return_address": {
                "name": "Acme",
                "line1": "1 Main St",
                "city": "Austin",
                "state": "XX",
                "zip": "78701",
            }
        },
        "return_address",
        None,
    ),
    ("send_date unreadable", {"send_date": "next tuesday"}, "send_date", None),
    ("send_date without zone", {"send_date": in_days(3, aware=False)}, "send_date", None),
    ("send_date 181 days ahead", {"send_date": in_days(181)}, "send_date", None),
    ("skip_invalid not a bool", {"skip_invalid": "yes"}, "skip_invalid", None),
    ("recipients empty", {"recipients": []}, "recipients", None),
    ("recipients not a list", {"recipients": {"first_name": "J"}}, "recipients", None),
    ("recipients 101", {"recipients": [recipient()] * 101}, "recipients", None),
    ("handwriting_style unknown", {"handwriting_style": "Comic Sans"}, "handwriting_style", None),
    ("unknown field", {"colour": "blue"}, "colour", None),
]


def test_each_top_level_rule_answers_400_with_its_field(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a tenant with money and nothing ordered yet
    t = make_tenant(credits_cents=100_000)
    before = snapshot(client, t)

    # When each rule is broken in an otherwise valid order
    failures = run_cases(client, t, TOP_LEVEL_CASES, lambda o: order_body(2, **o))

    # Then each answers 400 validation_error naming that field (no recipient_index)
    assert failures == []
    # And nothing was created or charged
    assert snapshot(client, t) == before == (100_000, 0, 0)


def test_message_is_unknown_and_hints_at_message_body(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given an order that says "message" where it means "message_body"
    t = make_tenant()
    body = order_body(1)
    body["message"] = body.pop("message_body")

    # When it is posted
    r = client.post("/orders", json=body, headers=t.headers)

    # Then both the unknown field (with a hint) and the missing body are named
    assert_refused(r, "message")
    assert {
        "field": "message",
        "error": "message is not a known field; did you mean message_body?",
    } in (details_of(r))
    assert {"field": "message_body", "error": "message_body is required"} in [
        {k: v for k, v in d.items() if k != "recipient_index"} for d in details_of(r)
    ]


RECIPIENT_CASES: list[tuple[str, dict[str, object], str]] = [
    ("first_name missing", {"first_name": None}, "first_name"),
    ("first_name blank", {"first_name": " "}, "first_name"),
    ("first_name 101", {"first_name": "f" * 101}, "first_name"),
    ("last_name missing", {"last_name": ""}, "last_name"),
    ("last_name 101", {"last_name": "l" * 101}, "last_name"),
    ("address_line1 missing", {"address_line1": None}, "address_line1"),
    ("address_line1 256", {"address_line1": "a" * 256}, "address_line1"),
    ("address_line2 256", {"address_line2": "a" * 256}, "address_line2"),
    ("city missing", {"city": ""}, "city"),
    ("city 101", {"city": "c" * 101}, "city"),
    ("state missing", {"state": None}, "state"),
    ("state unknown", {"state": "XX"}, "state"),
    ("state spelled out", {"state": "California"}, "state"),
    ("zip missing", {"zip": None}, "zip"),
    ("zip ABC", {"zip": "ABC"}, "zip"),
    ("zip 1234", {"zip": "1234"}, "zip"),
    ("zip 123456", {"zip": "123456"}, "zip"),
    ("zip 78701-12", {"zip": "78701-12"}, "zip"),
    ("zip as a number", {"zip": 78701}, "zip"),
    ("country USA", {"country": "USA"}, "country"),
    ("country one letter", {"country": "U"}, "country"),
    ("custom_fields a list", {"custom_fields": ["company"]}, "custom_fields"),
    ("custom_fields a string", {"custom_fields": "company=Acme"}, "custom_fields"),
    ("custom_fields nested", {"custom_fields": {"a": {"b": 1}}}, "custom_fields"),
    ("unknown recipient field", {"zip_code": "78701"}, "zip_code"),
]


def test_each_recipient_rule_answers_400_with_its_field_and_index(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a tenant with money and nothing ordered yet
    t = make_tenant(credits_cents=100_000)
    before = snapshot(client, t)

    # When the third of three recipients breaks one rule at a time
    failures = []
    for name, overrides, field in RECIPIENT_CASES:
        body = order_body(recipients=[recipient(), recipient(), recipient(**overrides)])
        r = client.post("/orders", json=body, headers=t.headers)
        problem = refusal_problem(r, field, 2)
        if problem:
            failures.append(f"{name}: {problem}")
        elif any(d.get("recipient_index") != 2 for d in details_of(r)):
            failures.append(f"{name}: a valid recipient was blamed: {details_of(r)}")

    # Then each answers 400 naming that field at recipient_index 2, and only there
    assert failures == []
    # And nothing was created or charged
    assert snapshot(client, t) == before == (100_000, 0, 0)


def test_zip_code_hints_at_zip(client: httpx.Client, make_tenant: MakeTenant) -> None:
    # Given a recipient that uses "zip_code" instead of "zip"
    t = make_tenant()
    other = recipient()
    other["zip_code"] = other.pop("zip")

    # When the order is posted
    r = client.post("/orders", json=order_body(recipients=[other]), headers=t.headers)

    # Then the unknown field carries a hint, and the missing zip is named too
    assert_refused(r, "zip_code", 0)
    assert {
        "recipient_index": 0,
        "field": "zip_code",
        "error": "zip_code is not a known field; did you mean zip?",
    } in details_of(r)
    assert {
        "recipient_index": 0,
        "field": "zip",
        "error": "zip is required for US addresses",
    } in details_of(r)


def test_a_recipient_that_is_not_an_object_is_refused(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given an order whose second recipient is a bare string
    t = make_tenant()

    # When it is posted
    body = order_body(recipients=[recipient(), "John Doe, 1 Main St"])
    r = client.post("/orders", json=body, headers=t.headers)

    # Then it is refused, pointing at recipient 1
    assert_refused(r, "recipient", 1)
    assert snapshot(client, t)[2] == 0


def test_edge_values_that_are_allowed_are_accepted_and_normalised(
    any_client: httpx.Client, any_make_tenant: MakeTenant
) -> None:
    # Given recipients at the edges of every rule
    t = any_make_tenant()
    no_country = recipient(first_name="f" * 100, state="tx", zip="78701-1234")
    del no_country["country"]
    no_line2 = recipient(last_name="l" * 100, address_line1="a" * 255, city="c" * 100)
    del no_line2["address_line2"]
    abroad = recipient(country="gb", state=None, zip=None, city="London")
    body = order_body(
        message_body="m" * 7_500,
        recipients=[no_country, no_line2, abroad, recipient(address_line2="a" * 255)],
        send_date=in_days(179),
        return_address={
            "name": "Acme",
            "line1": "1 Main St",
            "city": "Austin",
            "state": "TX",
            "zip": "78701",
        },
    )

    # When the order is posted
    r = any_client.post("/orders", json=body, headers=t.headers)

    # Then it is accepted, and the stored recipients are normalised
    assert r.status_code == 201, r.text
    order_id = r.json()["order"]["id"]
    assert r.json()["order"]["letter_count"] == 4
    got = any_client.get(f"/orders/{order_id}", headers=t.headers).json()["order"]
    first, _, third, _ = got["recipients"]
    assert first["state"] == "TX"
    assert first["country"] == "US"
    assert first["zip"] == "78701-1234"
    assert third["country"] == "GB"
    assert third["state"] is None
    assert len(got["message_body"]) == 7_500


def test_a_postcard_defaults_to_no_envelope(client: httpx.Client, make_tenant: MakeTenant) -> None:
    # Given a postcard order that says nothing about envelopes
    t = make_tenant()
    body = order_body(1, product_type="postcard")
    del body["envelope_type"]

    # When it is posted
    r = client.post("/orders", json=body, headers=t.headers)

    # Then it is priced without an envelope
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    assert order["envelope_type"] == "none"
    assert order["total_cents"] == 149
    assert order["cost_breakdown"]["description"] == "1 postcard x $1.49 = $1.49"


def test_a_hundred_recipients_are_accepted(client: httpx.Client, make_tenant: MakeTenant) -> None:
    # Given an order for exactly 100 recipients
    t = make_tenant(credits_cents=100_000)

    # When it is posted
    r = client.post("/orders", json=order_body(100), headers=t.headers)

    # Then it is accepted and priced for 100
    assert r.status_code == 201, r.text
    assert r.json()["order"]["letter_count"] == 100
    assert r.json()["order"]["total_cents"] == 29_800
    assert r.json()["balance_cents"] == 100_000 - 29_800


# --- every problem at once ------------------------------------------------------------


def test_three_broken_recipients_are_all_named_at_once(
    any_client: httpx.Client, any_make_tenant: MakeTenant
) -> None:
    # Given an order of five recipients, three of them broken in different ways
    t = any_make_tenant(credits_cents=10_000)
    body = order_body(
        recipients=[
            recipient(),
            recipient(zip="ABC"),
            recipient(first_name="", state="XX"),
            recipient(),
            recipient(city=None, custom_fields=[1]),
        ]
    )

    # When it is posted
    r = any_client.post("/orders", json=body, headers=t.headers)

    # Then every problem is named with its recipient, in one answer
    assert_refused(r, "zip", 1)
    got = r.json()
    assert [(d["recipient_index"], d["field"]) for d in got["details"]] == [
        (1, "zip"),
        (2, "first_name"),
        (2, "state"),
        (4, "city"),
        (4, "custom_fields"),
    ]
    assert got["details"][0]["error"] == (
        'Invalid ZIP code format "ABC". Expected 5 digits or ZIP+4 (e.g., 78701 or 78701-1234)'
    )
    assert got["message"] == "3 recipients have issues"
    assert "skip_invalid" in got["suggestion"]
    assert got["valid_count"] == 2
    assert got["invalid_count"] == 3
    # And nothing was created or charged
    assert snapshot(any_client, t) == (10_000, 0, 0)


def test_top_level_and_recipient_problems_come_together(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given an order broken at the top and in two recipients
    t = make_tenant()
    body = order_body(
        message_body="",
        paper_type="glossy",
        recipients=[recipient(state="ZZ"), recipient(), recipient(zip="1234")],
    )

    # When it is posted
    r = client.post("/orders", json=body, headers=t.headers)

    # Then all four problems are named
    assert_refused(r, "message_body")
    assert [(d.get("recipient_index"), d["field"]) for d in details_of(r)] == [
        (None, "message_body"),
        (None, "paper_type"),
        (0, "state"),
        (2, "zip"),
    ]
    assert r.json()["message"] == "The request has 4 problems."


# --- malformed bodies -----------------------------------------------------------------


def test_a_body_that_is_not_json_is_invalid_json(
    any_client: httpx.Client, any_make_tenant: MakeTenant
) -> None:
    # Given a tenant
    t = any_make_tenant(credits_cents=5_000)
    headers = {**t.headers, "Content-Type": "application/json"}

    # When the body is broken JSON
    r = any_client.post("/orders", content=b'{"message_body": "hi",', headers=headers)

    # Then it answers 400 invalid_json with a message and a suggestion
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_json"
    assert r.json()["message"]
    assert r.json()["suggestion"]
    assert snapshot(any_client, t) == (5_000, 0, 0)


def test_a_json_body_that_is_not_an_object_is_refused(
    any_client: httpx.Client, any_make_tenant: MakeTenant
) -> None:
    # Given a tenant
    t = any_make_tenant(credits_cents=5_000)

    # When the body is valid JSON but an array, a string or a number
    answers = [
        any_client.post("/orders", json=value, headers=t.headers)
        for value in ([order_body(1)], "an order", 42)
    ]

    # Then each answers 400 with the standard error shape, and nothing is created
    for r in answers:
        assert r.status_code == 400, r.text
        assert r.json()["error"] in ("invalid_json", "validation_error")
        assert r.json()["message"]
        assert r.json()["suggestion"]
    assert snapshot(any_client, t) == (5_000, 0, 0)


# --- skip_invalid ---------------------------------------------------------------------


def test_skip_invalid_sends_to_the_valid_recipients_only(
    any_client: httpx.Client, any_make_tenant: MakeTenant
) -> None:
    # Given three recipients, the middle one with a broken ZIP
    t = any_make_tenant(credits_cents=1_000)
    body = order_body(
        skip_invalid=True,
        recipients=[
            recipient(first_name="Ann"),
            recipient(first_name="Bob", zip="ABC"),
            recipient(first_name="Cat"),
        ],
    )

    # When the order is posted with skip_invalid
    r = any_client.post("/orders", json=body, headers=t.headers)

    # Then it is accepted for two letters, priced and held for two
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    assert order["letter_count"] == 2
    assert order["total_cents"] == 2 * 298
    assert order["cost_breakdown"]["description"] == (
        "2 letters x $1.99 + 2 envelopes x $0.99 = $5.96"
    )
    assert r.json()["balance_cents"] == 1_000 - 596
    assert snapshot(any_client, t) == (1_000 - 596, 596, 1)

    # And the order shows the skipped recipient as invalid, with the reason
    got = any_client.get(f"/orders/{order['id']}", headers=t.headers).json()["order"]
    assert [(x["first_name"], x["status"]) for x in got["recipients"]] == [
        ("Ann", "pending"),
        ("Bob", "invalid"),
        ("Cat", "pending"),
    ]
    bob = got["recipients"][1]
    assert "ZIP" in bob["invalid_reason"]
    assert got["recipients"][0]["invalid_reason"] is None
    assert got["skip_invalid"] is True


def test_skip_invalid_copes_with_a_recipient_that_is_not_an_object(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given three recipients, the middle one a bare string, and skip_invalid
    t = make_tenant(credits_cents=1_000)
    body = order_body(skip_invalid=True, recipients=[recipient(), "not a recipient", recipient()])

    # When the order is posted
    r = client.post("/orders", json=body, headers=t.headers)

    # Then the bad one is skipped like any other invalid recipient (never a 500)
    assert r.status_code == 201, r.text
    assert r.json()["order"]["letter_count"] == 2
    assert r.json()["order"]["total_cents"] == 596


def test_skip_invalid_with_no_valid_recipient_is_refused(
    any_client: httpx.Client, any_make_tenant: MakeTenant
) -> None:
    # Given two recipients, both broken, and skip_invalid
    t = any_make_tenant(credits_cents=1_000)
    body = order_body(skip_invalid=True, recipients=[recipient(zip="1"), recipient(state="QQ")])

    # When the order is posted
    r = any_client.post("/orders", json=body, headers=t.headers)

    # Then it is refused, naming both recipients
    assert_refused(r, "zip", 0)
    assert_refused(r, "state", 1)
    assert r.json()["invalid_count"] == 2
    assert r.json()["valid_count"] == 0
    # And nothing was created or charged
    assert snapshot(any_client, t) == (1_000, 0, 0)


def test_skip_invalid_with_no_valid_recipient_says_why(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given two recipients, both broken, and skip_invalid already set
    t = make_tenant(credits_cents=1_000)
    body = order_body(skip_invalid=True, recipients=[recipient(zip="1"), recipient(state="QQ")])

    # When the order is posted
    r = client.post("/orders", json=body, headers=t.headers)

    # Then the answer names the empty order itself (field "recipients"), and does not
    # advise setting skip_invalid, which is already set and would send nothing
    assert_refused(r, "recipients")
    assert "skip_invalid" not in r.json()["suggestion"]


def test_skip_invalid_does_not_skip_top_level_problems(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given skip_invalid and a missing message body
    t = make_tenant(credits_cents=1_000)
    body = order_body(2, skip_invalid=True, message_body="")

    # When the order is posted
    r = client.post("/orders", json=body, headers=t.headers)

    # Then it is still refused
    assert_refused(r, "message_body")
    assert snapshot(client, t) == (1_000, 0, 0)


# --- handwriting styles ---------------------------------------------------------------


def test_handwriting_style_by_name_slug_or_id(
    any_client: httpx.Client, any_make_tenant: MakeTenant
) -> None:
    # Given the font catalogue
    t = any_make_tenant()
    fonts = any_client.get("/fonts", headers=t.headers).json()["fonts"]
    by_name = {f["name"]: f["id"] for f in fonts}
    other = next(f for f in fonts if f["name"] != "Kyle")

    # When orders name a style by name, by lower-case name, by slug and by id
    chosen = {}
    for style in ("Kyle", "kyle", "elegant-script", other["id"]):
        r = any_client.post(
            "/orders", json=order_body(1, handwriting_style=style), headers=t.headers
        )
        assert r.status_code == 201, (style, r.text)
        order_id = r.json()["order"]["id"]
        detail = any_client.get(f"/orders/{order_id}", headers=t.headers).json()["order"]
        chosen[style] = detail["handwriting_style"]

    # Then each order carries that font's id
    assert chosen == {
        "Kyle": by_name["Kyle"],
        "kyle": by_name["Kyle"],
        "elegant-script": by_name["Elegant Script"],
        other["id"]: other["id"],
    }


def test_handwriting_style_unknown_is_refused(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a tenant
    t = make_tenant(credits_cents=1_000)

    # When an order names a font that does not exist, by name and by id
    by_name = client.post(
        "/orders", json=order_body(1, handwriting_style="Wingdings"), headers=t.headers
    )
    by_id = client.post(
        "/orders", json=order_body(1, handwriting_style=str(uuid.uuid4())), headers=t.headers
    )

    # Then both answer 400 naming handwriting_style, and nothing is created
    assert assert_refused(by_name, "handwriting_style")["details"][0]["error"] == (
        'Unknown handwriting_style "Wingdings". Choose a font id or name from the catalogue'
    )
    assert_refused(by_id, "handwriting_style")
    assert snapshot(client, t) == (1_000, 0, 0)


# --- money ----------------------------------------------------------------------------


def test_insufficient_credits_explains_the_shortfall(
    any_client: httpx.Client, any_make_tenant: MakeTenant
) -> None:
    # Given a tenant with $5.00 and an order of two letters ($5.96)
    t = any_make_tenant(credits_cents=500)

    # When it orders
    r = any_client.post("/orders", json=order_body(2), headers=t.headers)

    # Then it answers 402 with the balance, the cost and the shortfall
    assert r.status_code == 402, r.text
    body = r.json()
    assert body["error"] == "insufficient_credits"
    assert body["message"]
    assert body["suggestion"]
    assert body["balance_cents"] == 500
    assert body["cost_cents"] == 596
    assert body["shortfall_cents"] == body["cost_cents"] - body["balance_cents"] == 96
    # And nothing was created or charged
    assert snapshot(any_client, t) == (500, 0, 0)


def test_insufficient_credits_counts_money_already_held(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given $5.00 of which $2.98 is already held for an order
    t = make_tenant(credits_cents=500)
    assert client.post("/orders", json=order_body(1), headers=t.headers).status_code == 201

    # When a second letter is ordered
    r = client.post("/orders", json=order_body(1), headers=t.headers)

    # Then the shortfall is against the available balance
    assert r.status_code == 402, r.text
    assert r.json()["balance_cents"] == 202
    assert r.json()["cost_cents"] == 298
    assert r.json()["shortfall_cents"] == 96
    assert snapshot(client, t) == (202, 298, 1)


# --- the list endpoint ----------------------------------------------------------------


def test_list_query_parameters_are_validated(
    any_client: httpx.Client, any_make_tenant: MakeTenant
) -> None:
    # Given a tenant
    t = any_make_tenant()
    cases = [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"page": 0}, "page"),
        ({"page": "two"}, "page"),
        ({"status": "lost"}, "status"),
        ({"status": "pending,lost"}, "status"),
        ({"sort": "price"}, "sort"),
        ({"sort": "id; drop table orders"}, "sort"),
        ({"order": "sideways"}, "order"),
        ({"order": "ASC"}, "order"),
    ]

    # When the list is asked for with each bad parameter
    failures = []
    for params, field in cases:
        r = any_client.get("/orders", params=params, headers=t.headers)
        problem = refusal_problem(r, field, None)
        if problem:
            failures.append(f"{params}: {problem}")

    # Then each answers 400 validation_error naming the parameter
    assert failures == []


def test_list_reports_every_bad_parameter_at_once(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a tenant
    t = make_tenant()

    # When the list is asked for with four bad parameters
    params = {"page": 0, "limit": 500, "sort": "price", "order": "sideways"}
    r = client.get("/orders", params=params, headers=t.headers)

    # Then all four are named
    assert_refused(r, "page")
    assert {d["field"] for d in details_of(r)} == {"page", "limit", "sort", "order"}


def test_list_sorts_filters_and_pages(client: httpx.Client, make_tenant: MakeTenant) -> None:
    # Given five orders of different sizes, one of them cancelled
    t = make_tenant(credits_cents=100_000)
    ids = {}
    for size in (3, 1, 5, 2, 4):
        r = client.post("/orders", json=order_body(size), headers=t.headers)
        assert r.status_code == 201, r.text
        ids[size] = r.json()["order"]["id"]
    assert client.post(f"/orders/{ids[2]}/cancel", headers=t.headers).status_code == 200

    def listing(**params: object) -> dict[str, Any]:
        r = client.get("/orders", params=params, headers=t.headers)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def totals(page: dict[str, Any]) -> list[int]:
        return [o["total_cents"] for o in page["orders"]]

    # When sorted by total, both ways, and by letter count
    asc = listing(sort="total_cents", order="asc")
    desc = listing(sort="total_cents", order="desc")
    by_count = listing(sort="letter_count", order="asc")

    # Then the order follows the totals
    assert totals(asc) == [298, 596, 894, 1192, 1490]
    assert totals(desc) == [1490, 1192, 894, 596, 298]
    assert [o["letter_count"] for o in by_count["orders"]] == [1, 2, 3, 4, 5]
    assert asc["pagination"] == {"page": 1, "limit": 25, "total": 5, "total_pages": 1}

    # When filtered by status
    cancelled = listing(status="cancelled")
    pending = listing(status="pending", sort="total_cents", order="asc")
    both = listing(status="pending,cancelled")

    # Then only the matching orders come back, counted in the pagination block
    assert [o["id"] for o in cancelled["orders"]] == [ids[2]]
    assert cancelled["pagination"]["total"] == 1
    assert totals(pending) == [298, 894, 1192, 1490]
    assert pending["pagination"]["total"] == 4
    assert both["pagination"]["total"] == 5
    assert listing(status="shipped")["orders"] == []

    # When paged two at a time
    pages = [listing(sort="total_cents", order="desc", limit=2, page=p) for p in (1, 2, 3, 4)]

    # Then the pages split the sorted list and agree on the totals
    assert [totals(p) for p in pages] == [[1490, 1192], [894, 596], [298], []]
    for number, p in enumerate(pages, start=1):
        assert p["pagination"] == {"page": number, "limit": 2, "total": 5, "total_pages": 3}

    # And a filtered page counts only the filtered rows
    assert listing(status="pending", limit=3, page=2)["pagination"] == {
        "page": 2,
        "limit": 3,
        "total": 4,
        "total_pages": 2,
    }


def test_list_shows_only_the_callers_orders(
    any_client: httpx.Client, any_make_tenant: MakeTenant
) -> None:
    # Given two tenants, each with its own orders
    a = any_make_tenant(name="A")
    b = any_make_tenant(name="B")
    for _ in range(2):
        assert any_client.post("/orders", json=order_body(1), headers=a.headers).status_code == 201
    assert any_client.post("/orders", json=order_body(2), headers=b.headers).status_code == 201

    # When each lists its orders
    seen_a = any_client.get("/orders", headers=a.headers).json()
    seen_b = any_client.get("/orders", headers=b.headers).json()

    # Then each sees only its own
    assert seen_a["pagination"]["total"] == 2
    assert {o["letter_count"] for o in seen_a["orders"]} == {1}
    assert seen_b["pagination"]["total"] == 1
    assert seen_b["orders"][0]["letter_count"] == 2
