"""Field rules for a recipient's address, shared by the API and the address-check stage."""

from __future__ import annotations

import re
from collections.abc import Mapping

from engine.domain import text

_STATES = "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV"
_STATES += " NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
# Territories and military post offices, which USPS addresses like states.
_STATES += " AS GU MP PR VI UM FM MH PW AA AE AP"
US_STATES = frozenset(_STATES.split())
# [0-9], not \d: \d also matches full-width and other scripts' digits.
ZIP_PATTERN = re.compile(r"^[0-9]{5}(?:-[0-9]{4})?$")
COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")

#: Every field of a recipient, in the order answers show them, with the most characters
#: stored (None: not text). Said once: the order form, validation, storage, merging and
#: the API's answers all read it.
RECIPIENT_FIELDS: tuple[tuple[str, int | None], ...] = (
    ("first_name", 100),
    ("last_name", 100),
    ("address_line1", 255),
    ("address_line2", 255),
    ("city", 100),
    ("state", 100),
    ("zip", 20),
    ("country", 2),
    ("custom_fields", None),
)
FIELD_NAMES = tuple(name for name, _ in RECIPIENT_FIELDS)
#: The text fields stored as sent, with their lengths (an invalid recipient keeps these).
STORED_TEXT = tuple(
    (name, limit) for name, limit in RECIPIENT_FIELDS if limit and name != "country"
)
_OPTIONAL = frozenset({"address_line2"})
#: (field, required, max length) for the free-text fields checked as text.
TEXT_FIELDS: tuple[tuple[str, bool, int], ...] = tuple(
    (name, name not in _OPTIONAL, limit)
    for name, limit in STORED_TEXT
    if name in ("first_name", "last_name", "address_line1", "address_line2", "city")
)


def fields_of(row: object) -> dict[str, object]:
    """A stored recipient's fields, by name (a row or an object with those attributes)."""
    return {name: getattr(row, name) for name in FIELD_NAMES}


MAX_CUSTOM_FIELDS = 50
MAX_CUSTOM_FIELD_KEY = 64
MAX_CUSTOM_FIELD_VALUE = 1000


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_text(
    field: str, value: object, *, required: bool, max_length: int, multiline: bool = False
) -> str | None:
    """The problem with one text field, or None."""
    if _blank(value):
        return f"{field} is required" if required else None
    if not isinstance(value, str):
        return f"{field} must be a string"
    if len(value) > max_length:
        return f"{field} must be at most {max_length} characters (got {len(value)})"
    if problem := text.unstorable(value, multiline=multiline):
        return f"{field} {problem}"
    return None


def check_country(value: object) -> str | None:
    if not isinstance(value, str) or not COUNTRY_PATTERN.match(value.strip().upper()):
        return f'Invalid country "{value}". Use a 2-letter ISO 3166 code such as US or CA'
    return None


def check_state(value: object, country: str) -> str | None:
    if country != "US":
        return check_text("state", value, required=False, max_length=100)
    if _blank(value):
        return "state is required for US addresses"
    if not isinstance(value, str) or value.strip().upper() not in US_STATES:
        return f'Invalid US state "{value}". Use the 2-letter USPS code (e.g., CA, NY, TX)'
    return None


def check_zip(value: object, country: str) -> str | None:
    if country != "US":
        return check_text("zip", value, required=False, max_length=20)
    if _blank(value):
        return "zip is required for US addresses"
    if not isinstance(value, str) or not ZIP_PATTERN.match(value.strip()):
        return (
            f'Invalid ZIP code format "{value}". '
            "Expected 5 digits or ZIP+4 (e.g., 78701 or 78701-1234)"
        )
    return None


def check_custom_fields(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return "custom_fields must be an object of merge fields"
    if len(value) > MAX_CUSTOM_FIELDS:
        return f"custom_fields may hold at most {MAX_CUSTOM_FIELDS} fields"
    for key, item in value.items():
        shown = text.clean(str(key))
        if len(str(key)) > MAX_CUSTOM_FIELD_KEY:
            return f"custom_fields key {shown!r} is longer than {MAX_CUSTOM_FIELD_KEY} characters"
        if problem := text.unstorable(str(key)):
            return f"custom_fields key {shown!r} {problem}"
        if item is not None and not isinstance(item, str | int | float | bool):
            return f"custom_fields.{shown} must be a string, number, boolean or null"
        if isinstance(item, str) and len(item) > MAX_CUSTOM_FIELD_VALUE:
            return f"custom_fields.{shown} is longer than {MAX_CUSTOM_FIELD_VALUE} characters"
        if isinstance(item, str) and (problem := text.unstorable(item, multiline=True)):
            return f"custom_fields.{shown} {problem}"
        if problem := text.unstorable_number(item):
            return f"custom_fields.{shown} {problem}"
    return None


def country_of(raw: Mapping[str, object]) -> str:
    """The recipient's country, upper-cased; absent means US."""
    value = raw.get("country")
    return value.strip().upper() if isinstance(value, str) and value.strip() else "US"


def check_recipient(raw: Mapping[str, object]) -> list[tuple[str, str]]:
    """Every (field, error) wrong with one recipient, all at once."""
    problems: list[tuple[str, str]] = []
    for field, required, max_length in TEXT_FIELDS:
        error = check_text(field, raw.get(field), required=required, max_length=max_length)
        if error:
            problems.append((field, error))
    country = country_of(raw)
    if raw.get("country") is not None and (error := check_country(raw.get("country"))):
        problems.append(("country", error))
    if error := check_state(raw.get("state"), country):
        problems.append(("state", error))
    if error := check_zip(raw.get("zip"), country):
        problems.append(("zip", error))
    if error := check_custom_fields(raw.get("custom_fields")):
        problems.append(("custom_fields", error))
    return problems


def normalise_recipient(raw: Mapping[str, object]) -> dict[str, object]:
    """Trimmed, upper-cased where the post office wants it; assumes `check_recipient` passed."""

    def text(field: str) -> str | None:
        value = raw.get(field)
        return value.strip() if isinstance(value, str) and value.strip() else None

    country = country_of(raw)
    state = text("state")
    return {
        "first_name": text("first_name"),
        "last_name": text("last_name"),
        "address_line1": text("address_line1"),
        "address_line2": text("address_line2"),
        "city": text("city"),
        "state": state.upper() if state and country == "US" else state,
        "zip": text("zip"),
        "country": country,
        "custom_fields": dict(raw.get("custom_fields") or {}),  # type: ignore[call-overload]
    }
