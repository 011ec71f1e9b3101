"""The field rules for a recipient's address (engine/domain/addresses.py), no I/O."""

from __future__ import annotations

import pytest

from engine.domain import addresses
from tests.conftest import recipient


def problems_of(raw: dict[str, object]) -> dict[str, str]:
    """`check_recipient` as {field: error}; fails if a field is reported twice."""
    found = addresses.check_recipient(raw)
    fields = [field for field, _ in found]
    assert len(fields) == len(set(fields)), found
    return dict(found)


def test_the_reference_recipient_is_valid() -> None:
    assert addresses.check_recipient(recipient()) == []


# --- names, address lines, city -------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "limit"),
    [("first_name", 100), ("last_name", 100), ("address_line1", 255), ("city", 100)],
)
def test_required_text_fields_accept_up_to_their_limit(field: str, limit: int) -> None:
    assert problems_of(recipient(**{field: "x" * limit})) == {}


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("first_name", 100),
        ("last_name", 100),
        ("address_line1", 255),
        ("address_line2", 255),
        ("city", 100),
    ],
)
def test_text_fields_refuse_one_character_over_their_limit(field: str, limit: int) -> None:
    problems = problems_of(recipient(**{field: "x" * (limit + 1)}))

    assert set(problems) == {field}
    assert problems[field] == (f"{field} must be at most {limit} characters (got {limit + 1})")


@pytest.mark.parametrize("field", ["first_name", "last_name", "address_line1", "city"])
@pytest.mark.parametrize("blank", [None, "", "   ", "\t\n"])
def test_required_text_fields_refuse_missing_or_blank(field: str, blank: object) -> None:
    problems = problems_of(recipient(**{field: blank}))

    assert problems == {field: f"{field} is required"}


@pytest.mark.parametrize("field", ["first_name", "last_name", "address_line1", "city"])
def test_required_text_fields_refuse_an_absent_key(field: str) -> None:
    raw = recipient()
    del raw[field]

    assert problems_of(raw) == {field: f"{field} is required"}


@pytest.mark.parametrize("field", ["first_name", "address_line1", "address_line2", "city"])
@pytest.mark.parametrize("value", [42, 1.5, True, ["Main St"], {"a": 1}])
def test_text_fields_refuse_non_strings(field: str, value: object) -> None:
    problems = problems_of(recipient(**{field: value}))

    assert problems == {field: f"{field} must be a string"}


@pytest.mark.parametrize("value", [None, "", "   ", "x" * 255])
def test_address_line2_is_optional_up_to_255(value: object) -> None:
    assert problems_of(recipient(address_line2=value)) == {}


def test_address_line2_may_be_left_out() -> None:
    raw = recipient()
    del raw["address_line2"]

    assert problems_of(raw) == {}


def test_check_text_reports_nothing_for_an_optional_blank() -> None:
    assert addresses.check_text("x", None, required=False, max_length=5) is None
    assert addresses.check_text("x", "12345", required=True, max_length=5) is None
    assert addresses.check_text("x", "123456", required=True, max_length=5) == (
        "x must be at most 5 characters (got 6)"
    )


# --- US state -------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["CA", "NY", "TX", "DC", "PR", "AE", "WY"])
def test_us_states_accept_usps_codes(state: str) -> None:
    assert addresses.check_state(state, "US") is None


@pytest.mark.parametrize("state", ["ca", "Tx", " ny ", "dC"])
def test_us_states_are_case_insensitive_and_normalised_to_upper(state: str) -> None:
    raw = recipient(state=state)

    assert problems_of(raw) == {}
    assert addresses.normalise_recipient(raw)["state"] == state.strip().upper()


@pytest.mark.parametrize("state", ["XX", "California", "C", "CAL", "ZZ", "12", 6])
def test_us_states_refuse_anything_but_a_usps_code(state: object) -> None:
    problems = problems_of(recipient(state=state))

    assert set(problems) == {"state"}
    assert problems["state"] == (
        f'Invalid US state "{state}". Use the 2-letter USPS code (e.g., CA, NY, TX)'
    )


@pytest.mark.parametrize("state", [None, "", "  "])
def test_us_addresses_need_a_state(state: object) -> None:
    assert problems_of(recipient(state=state)) == {"state": "state is required for US addresses"}


def test_the_state_list_has_every_state_and_dc() -> None:
    # 50 states + DC + 5 territories + the minor outlying islands + 3 freely associated
    # states + 3 military codes
    assert len(addresses.US_STATES) == 50 + 1 + 5 + 1 + 3 + 3
    assert all(len(code) == 2 and code.isupper() for code in addresses.US_STATES)


# --- ZIP ------------------------------------------------------------------------------


@pytest.mark.parametrize("zip_code", ["78701", "78701-1234", "00501", " 90001 "])
def test_zip_accepts_five_digits_or_zip_plus_four(zip_code: str) -> None:
    assert problems_of(recipient(zip=zip_code)) == {}


@pytest.mark.parametrize(
    "zip_code",
    ["ABC", "1234", "123456", "78701-12", "78701-", "78701 1234", "787011234", "7870A", 78701],
)
def test_zip_refuses_other_shapes(zip_code: object) -> None:
    problems = problems_of(recipient(zip=zip_code))

    assert set(problems) == {"zip"}
    assert problems["zip"] == (
        f'Invalid ZIP code format "{zip_code}". '
        "Expected 5 digits or ZIP+4 (e.g., 78701 or 78701-1234)"
    )


@pytest.mark.parametrize("zip_code", [None, "", "   "])
def test_us_addresses_need_a_zip(zip_code: object) -> None:
    assert problems_of(recipient(zip=zip_code)) == {"zip": "zip is required for US addresses"}


def test_zip_is_trimmed_when_normalised() -> None:
    assert addresses.normalise_recipient(recipient(zip=" 78701-1234 "))["zip"] == "78701-1234"


# --- country --------------------------------------------------------------------------


def test_country_defaults_to_us_when_absent() -> None:
    raw = recipient()
    del raw["country"]

    assert addresses.country_of(raw) == "US"
    assert problems_of(raw) == {}
    assert addresses.normalise_recipient(raw)["country"] == "US"


def test_country_null_also_means_us_and_us_rules_apply() -> None:
    raw = recipient(country=None, state="XX", zip="ABC")

    assert addresses.country_of(raw) == "US"
    assert set(problems_of(raw)) == {"state", "zip"}


def test_lowercase_country_is_accepted_and_upper_cased() -> None:
    raw = recipient(country="us")

    assert problems_of(raw) == {}
    assert addresses.normalise_recipient(raw)["country"] == "US"


@pytest.mark.parametrize("country", ["USA", "U", "United States", "1A", "U1", 1, ["US"]])
def test_country_must_be_a_two_letter_code(country: object) -> None:
    problems = problems_of(recipient(country=country))

    assert "country" in problems
    assert problems["country"] == (
        f'Invalid country "{country}". Use a 2-letter ISO 3166 code such as US or CA'
    )


@pytest.mark.parametrize("country", ["CA", "GB", "de"])
def test_non_us_addresses_need_no_us_state_or_zip(country: str) -> None:
    raw = recipient(country=country, state=None, zip=None)

    assert problems_of(raw) == {}


def test_non_us_addresses_take_their_own_region_and_postcode_as_given() -> None:
    raw = recipient(country="CA", state="Ontario", zip="K1A 0B6")

    assert problems_of(raw) == {}
    clean = addresses.normalise_recipient(raw)
    assert clean["country"] == "CA"
    assert clean["state"] == "Ontario"
    assert clean["zip"] == "K1A 0B6"


def test_non_us_region_and_postcode_still_have_length_limits() -> None:
    problems = problems_of(recipient(country="GB", state="x" * 101, zip="9" * 21))

    assert set(problems) == {"state", "zip"}


# --- custom_fields --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [None, {}, {"company": "Acme"}, {"n": 3, "ok": True, "ratio": 0.5, "none": None}]
)
def test_custom_fields_accept_an_object_of_scalars(value: object) -> None:
    assert problems_of(recipient(custom_fields=value)) == {}


@pytest.mark.parametrize("value", [["company", "Acme"], "company=Acme", 7, True])
def test_custom_fields_must_be_an_object(value: object) -> None:
    problems = problems_of(recipient(custom_fields=value))

    assert problems == {"custom_fields": "custom_fields must be an object of merge fields"}


def test_custom_field_values_must_be_scalars() -> None:
    problems = problems_of(recipient(custom_fields={"company": {"name": "Acme"}}))

    assert problems == {
        "custom_fields": "custom_fields.company must be a string, number, boolean or null"
    }


def test_custom_fields_have_size_limits() -> None:
    too_many = {f"k{i}": "v" for i in range(addresses.MAX_CUSTOM_FIELDS + 1)}
    long_key = {"k" * (addresses.MAX_CUSTOM_FIELD_KEY + 1): "v"}
    long_value = {"k": "v" * (addresses.MAX_CUSTOM_FIELD_VALUE + 1)}

    assert set(problems_of(recipient(custom_fields=too_many))) == {"custom_fields"}
    assert set(problems_of(recipient(custom_fields=long_key))) == {"custom_fields"}
    assert set(problems_of(recipient(custom_fields=long_value))) == {"custom_fields"}
    exactly = {f"k{i}": "v" * addresses.MAX_CUSTOM_FIELD_VALUE for i in range(50)}
    assert problems_of(recipient(custom_fields=exactly)) == {}


# --- everything at once ---------------------------------------------------------------


def test_every_problem_of_a_recipient_is_reported_at_once() -> None:
    raw = {
        "first_name": "",
        "last_name": "x" * 101,
        "address_line1": None,
        "address_line2": "y" * 256,
        "city": "",
        "state": "XX",
        "zip": "1234",
        "custom_fields": ["not", "an", "object"],
    }

    problems = problems_of(raw)

    assert set(problems) == {
        "first_name",
        "last_name",
        "address_line1",
        "address_line2",
        "city",
        "state",
        "zip",
        "custom_fields",
    }


def test_an_empty_recipient_lists_every_required_field() -> None:
    assert problems_of({}) == {
        "first_name": "first_name is required",
        "last_name": "last_name is required",
        "address_line1": "address_line1 is required",
        "city": "city is required",
        "state": "state is required for US addresses",
        "zip": "zip is required for US addresses",
    }


def test_normalise_trims_text_and_drops_blank_optionals() -> None:
    clean = addresses.normalise_recipient(
        recipient(first_name="  Ann ", address_line2="   ", city=" Austin ", state="tx")
    )

    assert clean["first_name"] == "Ann"
    assert clean["address_line2"] is None
    assert clean["city"] == "Austin"
    assert clean["state"] == "TX"
    assert clean["custom_fields"] == {"company": "Acme Inc"}
