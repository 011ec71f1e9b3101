"""The rules an order request must meet (engine/domain/orderform.py), no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.domain import orderform
from engine.errors import FieldProblem
from tests.conftest import order_body, recipient

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def check(body: dict[str, object]) -> list[FieldProblem]:
    return orderform.check_order(body, now=NOW)


def top_level(body: dict[str, object]) -> dict[str, str]:
    """The top-level problems as {field: error}; fails if a field is reported twice."""
    found = [p for p in check(body) if p.recipient_index is None]
    fields = [p.field for p in found]
    assert len(fields) == len(set(fields)), found
    return {p.field: p.error for p in found}


def test_the_reference_order_is_valid() -> None:
    assert check(order_body(3)) == []


def test_a_minimal_order_is_valid() -> None:
    assert check({"message_body": "Hi", "recipients": [recipient()]}) == []


# --- message_body ---------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 7_499, 7_500])
def test_message_body_accepts_1_to_7500_characters(length: int) -> None:
    assert check(order_body(message_body="m" * length)) == []


def test_message_body_refuses_7501_characters() -> None:
    assert top_level(order_body(message_body="m" * 7_501)) == {
        "message_body": "message_body must be at most 7500 characters (got 7501)"
    }


@pytest.mark.parametrize("blank", [None, "", "   ", "\n\n"])
def test_message_body_is_required(blank: object) -> None:
    assert top_level(order_body(message_body=blank)) == {"message_body": "message_body is required"}


def test_message_body_missing_entirely_is_required() -> None:
    body = order_body()
    del body["message_body"]

    assert top_level(body) == {"message_body": "message_body is required"}


@pytest.mark.parametrize("value", [42, ["Dear"], {"text": "Dear"}, True])
def test_message_body_must_be_a_string(value: object) -> None:
    assert top_level(order_body(message_body=value)) == {
        "message_body": "message_body must be a string"
    }


def test_message_body_length_counts_characters_not_bytes() -> None:
    assert check(order_body(message_body="é" * 7_500)) == []
    assert set(top_level(order_body(message_body="✍" * 7_501))) == {"message_body"}


# --- product, paper, envelope, mailing option -----------------------------------------


@pytest.mark.parametrize("product", ["letter", "card", "postcard"])
def test_product_type_accepts_letter_card_postcard(product: str) -> None:
    envelope = "none" if product == "postcard" else "standard"
    assert check(order_body(product_type=product, envelope_type=envelope)) == []


@pytest.mark.parametrize("product", ["poster", "Letter", "LETTER", "", 1])
def test_product_type_refuses_anything_else(product: object) -> None:
    problems = top_level(order_body(product_type=product))

    assert set(problems) == {"product_type"}
    assert problems["product_type"] == (
        f'product_type must be one of letter, card, postcard (got "{product}")'
    )


@pytest.mark.parametrize("paper", ["standard", "premium"])
def test_paper_type_accepts_standard_and_premium(paper: str) -> None:
    assert check(order_body(paper_type=paper)) == []


@pytest.mark.parametrize("paper", ["glossy", "Premium", 0])
def test_paper_type_refuses_anything_else(paper: object) -> None:
    problems = top_level(order_body(paper_type=paper))

    assert problems == {
        "paper_type": f'paper_type must be one of standard, premium (got "{paper}")'
    }


@pytest.mark.parametrize("envelope", ["standard", "none"])
def test_envelope_type_accepts_standard_and_none(envelope: str) -> None:
    assert check(order_body(envelope_type=envelope)) == []


@pytest.mark.parametrize("envelope", ["window", "None", "", False])
def test_envelope_type_refuses_anything_else(envelope: object) -> None:
    problems = top_level(order_body(envelope_type=envelope))

    assert problems == {
        "envelope_type": f'envelope_type must be one of standard, none (got "{envelope}")'
    }


def test_product_paper_and_envelope_default_when_absent() -> None:
    body = order_body()
    for field in ("product_type", "paper_type", "envelope_type"):
        del body[field]

    assert check(body) == []


def test_a_postcard_with_a_standard_envelope_is_refused() -> None:
    problems = top_level(order_body(product_type="postcard", envelope_type="standard"))

    assert problems == {
        "envelope_type": "postcards are mailed without an envelope; use envelope_type none"
    }


def test_a_postcard_without_an_envelope_type_is_fine() -> None:
    body = order_body(product_type="postcard")
    del body["envelope_type"]

    assert check(body) == []


def test_cards_may_go_without_an_envelope() -> None:
    assert check(order_body(product_type="card", envelope_type="none")) == []


@pytest.mark.parametrize("option", ["we_mail", "print_send", "drop_ship"])
def test_mailing_option_accepts_the_known_options(option: str) -> None:
    assert check(order_body(mailing_option=option)) == []


def test_mailing_option_refuses_others() -> None:
    assert set(top_level(order_body(mailing_option="pigeon"))) == {"mailing_option"}


@pytest.mark.parametrize("value", ["true", 1, 0, "yes"])
def test_skip_invalid_must_be_a_boolean(value: object) -> None:
    assert top_level(order_body(skip_invalid=value)) == {
        "skip_invalid": "skip_invalid must be true or false"
    }


@pytest.mark.parametrize("value", [True, False, None])
def test_skip_invalid_accepts_booleans_and_null(value: object) -> None:
    assert check(order_body(skip_invalid=value)) == []


@pytest.mark.parametrize("field", ["handwriting_style", "authenticity_preset"])
@pytest.mark.parametrize("value", [5, ["Kyle"], "x" * 65])
def test_style_fields_must_be_short_strings(field: str, value: object) -> None:
    assert top_level(order_body(**{field: value})) == {
        field: f"{field} must be a string of at most 64 characters"
    }


# --- return_address -------------------------------------------------------------------


def return_address(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "Acme Inc",
        "line1": "1 Congress Ave",
        "line2": "Floor 3",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
        "country": "US",
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    "value",
    [
        return_address(),
        return_address(line2=None),
        return_address(state="tx", zip="78701-1234"),
        return_address(country=None),
        return_address(country="CA", state="Ontario", zip="K1A 0B6"),
        return_address(country="GB", state=None, zip=None),
    ],
)
def test_return_address_accepts_complete_addresses(value: dict[str, object]) -> None:
    assert check(order_body(return_address=value)) == []


def test_return_address_is_optional() -> None:
    assert check(order_body(return_address=None)) == []


@pytest.mark.parametrize("value", ["1 Congress Ave, Austin TX", ["Acme"], 5])
def test_return_address_must_be_an_object(value: object) -> None:
    assert top_level(order_body(return_address=value)) == {
        "return_address": "return_address must be an object"
    }


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"name": None}, "return_address.name is required"),
        ({"line1": ""}, "return_address.line1 is required"),
        ({"city": "  "}, "return_address.city is required"),
        ({"name": "n" * 101}, "return_address.name must be at most 100 characters (got 101)"),
        ({"line1": "l" * 256}, "return_address.line1 must be at most 255 characters (got 256)"),
        ({"line2": "l" * 256}, "return_address.line2 must be at most 255 characters (got 256)"),
        ({"city": "c" * 101}, "return_address.city must be at most 100 characters (got 101)"),
        ({"state": None}, "state is required for US addresses"),
        (
            {"state": "XX"},
            'Invalid US state "XX". Use the 2-letter USPS code (e.g., CA, NY, TX)',
        ),
        ({"zip": None}, "zip is required for US addresses"),
        (
            {"zip": "1234"},
            'Invalid ZIP code format "1234". '
            "Expected 5 digits or ZIP+4 (e.g., 78701 or 78701-1234)",
        ),
    ],
)
def test_return_address_field_rules(overrides: dict[str, object], error: str) -> None:
    assert top_level(order_body(return_address=return_address(**overrides))) == {
        "return_address": error
    }


def test_return_address_country_must_be_a_two_letter_code() -> None:
    # Same rule as a recipient's country: "USA" is not an ISO 3166 code, and must not
    # switch the US state and ZIP checks off.
    problems = top_level(
        order_body(return_address=return_address(country="USA", state="XX", zip="ABC"))
    )

    assert "return_address" in problems
    assert "country" in problems["return_address"].lower()


def test_return_address_problems_are_all_reported_at_once() -> None:
    # Every problem at once, not just the first (issue 2, item 5)
    problems = [
        p for p in check(order_body(return_address={"state": "XX"})) if p.recipient_index is None
    ]

    reported = " | ".join(f"{p.field}: {p.error}" for p in problems)
    mentions = {
        "name": "return_address.name is required",
        "line1": "return_address.line1 is required",
        "city": "return_address.city is required",
        "state": 'Invalid US state "XX"',
        "zip": "zip is required",
    }
    missing = [part for part, words in mentions.items() if words not in reported]
    assert missing == [], reported


# --- send_date ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-02T09:00:00Z",
        "2026-03-02T09:00:00+00:00",
        "2026-06-01T09:00:00-05:00",
        (NOW + timedelta(days=180)).isoformat(),
        NOW.isoformat(),
    ],
)
def test_send_date_accepts_aware_iso_datetimes_up_to_180_days_ahead(value: str) -> None:
    assert check(order_body(send_date=value)) == []


def test_send_date_refuses_more_than_180_days_ahead() -> None:
    later = (NOW + timedelta(days=180, seconds=1)).isoformat()

    assert top_level(order_body(send_date=later)) == {
        "send_date": "send_date may be at most 180 days ahead"
    }


@pytest.mark.parametrize("value", ["2026-03-02T09:00:00", "2026-03-02"])
def test_send_date_refuses_a_time_without_a_zone(value: str) -> None:
    assert top_level(order_body(send_date=value)) == {
        "send_date": "send_date must carry a time zone (e.g., 2026-12-01T09:00:00Z)"
    }


@pytest.mark.parametrize("value", ["tomorrow", "", "03/02/2026", 1767225600, True, ["x"]])
def test_send_date_refuses_anything_unreadable(value: object) -> None:
    assert top_level(order_body(send_date=value)) == {
        "send_date": "send_date must be an ISO 8601 date-time with a time zone"
    }


def test_parse_send_date_gives_an_aware_datetime() -> None:
    parsed = orderform.parse_send_date("2026-03-02T09:00:00Z")

    assert parsed == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert orderform.parse_send_date(None) is None
    assert orderform.parse_send_date("nope") is None


# --- unknown fields -------------------------------------------------------------------


def test_message_is_unknown_with_a_hint_to_message_body() -> None:
    body = order_body()
    body["message"] = body.pop("message_body")

    assert top_level(body) == {
        "message": "message is not a known field; did you mean message_body?",
        "message_body": "message_body is required",
    }


def test_other_unknown_top_level_fields_are_reported_without_a_hint() -> None:
    assert top_level(order_body(colour="blue", priority=1)) == {
        "colour": "colour is not a known field",
        "priority": "priority is not a known field",
    }


@pytest.mark.parametrize(("name", "hint"), [("zip_code", "zip"), ("postal_code", "zip")])
def test_unknown_recipient_fields_carry_their_index_and_a_hint(name: str, hint: str) -> None:
    other = recipient()
    other[name] = other.pop("zip")
    body = order_body(recipients=[recipient(), other])

    problems = check(body)

    assert FieldProblem(name, f"{name} is not a known field; did you mean {hint}?", 1) in problems
    assert FieldProblem("zip", "zip is required for US addresses", 1) in problems
    assert all(p.recipient_index == 1 for p in problems)


# --- recipients -----------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 100])
def test_recipients_accept_1_to_100(count: int) -> None:
    assert check(order_body(count)) == []


def test_recipients_refuse_101() -> None:
    assert top_level(order_body(101)) == {
        "recipients": "at most 100 recipients per order (got 101)"
    }


@pytest.mark.parametrize("value", [[], None, {}, "John Doe", 3, {"first_name": "John"}])
def test_recipients_must_be_a_non_empty_list(value: object) -> None:
    assert top_level(order_body(recipients=value)) == {
        "recipients": "recipients must be a list of 1 to 100 recipients"
    }


def test_recipients_missing_entirely_is_refused() -> None:
    body = order_body()
    del body["recipients"]

    assert top_level(body) == {"recipients": "recipients must be a list of 1 to 100 recipients"}


@pytest.mark.parametrize("item", ["John Doe", 7, None, ["John"]])
def test_a_recipient_must_be_an_object(item: object) -> None:
    problems = check(order_body(recipients=[recipient(), item]))

    assert problems == [FieldProblem("recipient", "must be an object", 1)]


def test_recipient_field_problems_carry_the_recipient_index() -> None:
    body = order_body(recipients=[recipient(), recipient(), recipient(state="XX")])

    (problem,) = check(body)

    assert problem.recipient_index == 2
    assert problem.field == "state"
    assert problem.as_dict() == {
        "recipient_index": 2,
        "field": "state",
        "error": 'Invalid US state "XX". Use the 2-letter USPS code (e.g., CA, NY, TX)',
    }


# --- everything at once ---------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_the_right_recipient_index() -> None:
    body = order_body(
        message_body="",
        product_type="poster",
        paper_type="glossy",
        send_date="2026-03-02T09:00:00",
        recipients=[
            recipient(first_name="", zip="ABC"),
            recipient(state="XX", custom_fields=["a"]),
            recipient(last_name="x" * 101, city=None, country="USA"),
        ],
    )

    problems = check(body)

    got = {(p.recipient_index, p.field) for p in problems}
    assert got == {
        (None, "message_body"),
        (None, "product_type"),
        (None, "paper_type"),
        (None, "send_date"),
        (0, "first_name"),
        (0, "zip"),
        (1, "state"),
        (1, "custom_fields"),
        (2, "last_name"),
        (2, "city"),
        (2, "country"),
    }
    assert len(problems) == len(got)
    # Top-level problems first, then recipients in order
    indexes = [p.recipient_index for p in problems]
    assert indexes[:4] == [None] * 4
    assert indexes[4:] == sorted(i for i in indexes if i is not None)


def test_three_broken_recipients_are_all_reported() -> None:
    body = order_body(
        recipients=[
            recipient(zip="1234"),
            recipient(),
            recipient(first_name=None, last_name=None),
            recipient(state="ZZ"),
        ]
    )

    problems = [p.as_dict() for p in check(body)]

    assert problems == [
        {
            "recipient_index": 0,
            "field": "zip",
            "error": 'Invalid ZIP code format "1234". '
            "Expected 5 digits or ZIP+4 (e.g., 78701 or 78701-1234)",
        },
        {"recipient_index": 2, "field": "first_name", "error": "first_name is required"},
        {"recipient_index": 2, "field": "last_name", "error": "last_name is required"},
        {
            "recipient_index": 3,
            "field": "state",
            "error": 'Invalid US state "ZZ". Use the 2-letter USPS code (e.g., CA, NY, TX)',
        },
    ]
