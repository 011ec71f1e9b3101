"""The rules an order request must meet before any money moves (reference 001's limits)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from engine.domain import addresses, layout, merge, text
from engine.domain.statuses import EnvelopeType, PaperType, ProductType
from engine.errors import FieldProblem

MAX_MESSAGE_LENGTH = 7500
MAX_RECIPIENTS = 100
MAX_SEND_DATE_AHEAD = timedelta(days=180)
MAILING_OPTIONS = ("we_mail", "print_send", "drop_ship")

_ENUMS: dict[str, tuple[str, ...]] = {
    "product_type": tuple(p.value for p in ProductType),
    "paper_type": tuple(p.value for p in PaperType),
    "envelope_type": tuple(e.value for e in EnvelopeType),
    "mailing_option": MAILING_OPTIONS,
}

ORDER_FIELDS = frozenset(
    {
        "message_body",
        "recipients",
        "product_type",
        "paper_type",
        "envelope_type",
        "mailing_option",
        "handwriting_style",
        "authenticity_preset",
        "return_address",
        "skip_invalid",
        "send_date",
        "metadata",
        "external_id",
    }
)
RECIPIENT_FIELDS = frozenset(addresses.FIELD_NAMES)
#: Names partners bring from other services, and the field they mean here.
_DID_YOU_MEAN = {"message": "message_body", "zip_code": "zip", "postal_code": "zip"}

#: 001 spells a return address's lines as a recipient's; 000 as `line1`/`line2`. Both work.
RETURN_ADDRESS_ALIASES = {"address_line1": "line1", "address_line2": "line2"}
#: Limits on `metadata` (neither 000 nor 001 states any; these are ours).
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
MAX_METADATA_BYTES = 8192
MAX_EXTERNAL_ID_LENGTH = 255

RETURN_ADDRESS_FIELDS: tuple[tuple[str, bool, int], ...] = (
    ("name", True, 100),
    ("line1", True, 255),
    ("line2", False, 255),
    ("city", True, 100),
)


def check_order(raw: Mapping[str, object], *, now: datetime) -> list[FieldProblem]:
    """Every problem with an order request, top-level fields first, then by recipient."""
    problems: list[FieldProblem] = [
        FieldProblem(name, _unknown(name)) for name in sorted(set(raw) - ORDER_FIELDS)
    ]

    def add(field: str, error: str | None) -> None:
        if error:
            problems.append(FieldProblem(field=field, error=error))

    add(
        "message_body",
        addresses.check_text(
            "message_body",
            raw.get("message_body"),
            required=True,
            max_length=MAX_MESSAGE_LENGTH,
            multiline=True,
        ),
    )
    for field, allowed in _ENUMS.items():
        value = raw.get(field)
        if value is not None and value not in allowed:
            add(field, f'{field} must be one of {", ".join(allowed)} (got "{value}")')
    if raw.get("product_type") == ProductType.POSTCARD and raw.get("envelope_type") == "standard":
        add("envelope_type", "postcards are mailed without an envelope; use envelope_type none")
    for error in _check_return_address(raw.get("return_address")):
        add("return_address", error)
    for error in check_metadata(raw.get("metadata")):
        add("metadata", error)
    add("external_id", _check_external_id(raw.get("external_id")))
    add("send_date", _check_send_date(raw.get("send_date"), now))
    if raw.get("skip_invalid") is not None and not isinstance(raw.get("skip_invalid"), bool):
        add("skip_invalid", "skip_invalid must be true or false")
    for field in ("authenticity_preset", "handwriting_style"):
        value = raw.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > 64):
            add(field, f"{field} must be a string of at most 64 characters")
        elif isinstance(value, str) and (problem := text.unstorable(value)):
            add(field, f"{field} {problem}")

    recipients = raw.get("recipients")
    if not isinstance(recipients, Sequence) or isinstance(recipients, str) or not recipients:
        add("recipients", "recipients must be a list of 1 to 100 recipients")
    elif len(recipients) > MAX_RECIPIENTS:
        add("recipients", f"at most {MAX_RECIPIENTS} recipients per order (got {len(recipients)})")
    else:
        problems.extend(check_recipients(recipients))
        problems.extend(check_merged(raw.get("message_body"), raw.get("product_type"), recipients))
    return problems


def check_merged(
    message: object, product: object, recipients: Sequence[object]
) -> list[FieldProblem]:
    """Each recipient whose message, once merged with its fields, does not fit the product."""
    if not isinstance(message, str) or (product or "letter") not in _ENUMS["product_type"]:
        return []
    kind = ProductType(str(product or "letter"))
    problems = []
    for index, recipient in enumerate(recipients):
        if isinstance(recipient, Mapping):
            merged = merge.merge(message, merge.fields_of(recipient))
            if error := layout.problem(merged, kind):
                problems.append(FieldProblem("message_body", error, index))
    return problems


def check_recipients(recipients: Sequence[object]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for index, recipient in enumerate(recipients):
        if not isinstance(recipient, Mapping):
            problems.append(FieldProblem("recipient", "must be an object", index))
            continue
        for name in sorted(set(recipient) - RECIPIENT_FIELDS):
            problems.append(FieldProblem(str(name), _unknown(str(name)), index))
        for field, error in addresses.check_recipient(recipient):
            problems.append(FieldProblem(field, error, index))
    return problems


def _unknown(name: str) -> str:
    hint = _DID_YOU_MEAN.get(name)
    return f"{name} is not a known field" + (f"; did you mean {hint}?" if hint else "")


def return_address_lines(value: Mapping[str, object]) -> tuple[dict[str, object], list[str]]:
    """The address with 001's `address_line1`/`address_line2` read as `line1`/`line2`,
    and a problem for each line given both ways with different values."""
    out = {k: v for k, v in value.items() if k not in RETURN_ADDRESS_ALIASES}
    problems = []
    for alias, name in RETURN_ADDRESS_ALIASES.items():
        if value.get(alias) is None:
            continue
        if value.get(name) is not None and value[name] != value[alias]:
            problems.append(
                f"return_address.{name} and return_address.{alias} are the same line; "
                "give one of them"
            )
        out[name] = value[alias]
    return out, problems


def check_metadata(value: object) -> list[str]:
    """Every problem with `metadata`: a flat object of string keys to string values."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return ["metadata must be an object of string keys to string values"]
    problems = []
    if len(value) > MAX_METADATA_KEYS:
        problems.append(f"metadata may have at most {MAX_METADATA_KEYS} keys (got {len(value)})")
    size = 0
    for key, item in value.items():
        key_text = str(key)
        size += len(key_text.encode()) + (len(item.encode()) if isinstance(item, str) else 0)
        if not key_text or len(key_text) > MAX_METADATA_KEY_LENGTH:
            problems.append(f"metadata keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters")
        if not isinstance(item, str):
            problems.append(f"metadata.{key_text} must be a string")
        elif len(item) > MAX_METADATA_VALUE_LENGTH:
            problems.append(
                f"metadata.{key_text} may be at most {MAX_METADATA_VALUE_LENGTH} characters"
            )
        elif problem := text.unstorable(item) or text.unstorable(key_text):
            problems.append(f"metadata.{key_text} {problem}")
    if size > MAX_METADATA_BYTES:
        problems.append(f"metadata may be at most {MAX_METADATA_BYTES} bytes in all")
    return problems


def _check_external_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_EXTERNAL_ID_LENGTH:
        return f"external_id must be a string of 1 to {MAX_EXTERNAL_ID_LENGTH} characters"
    if problem := text.unstorable(value):
        return f"external_id {problem}"
    return None


def _check_return_address(value: object) -> list[str]:
    """Every problem with a return address (the same rules as a recipient's)."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return ["return_address must be an object"]
    value, problems = return_address_lines(value)
    for field, required, max_length in RETURN_ADDRESS_FIELDS:
        error = addresses.check_text(
            f"return_address.{field}", value.get(field), required=required, max_length=max_length
        )
        if error:
            problems.append(error)
    if value.get("country") is not None and (error := addresses.check_country(value["country"])):
        problems.append(error)
        return problems
    country = addresses.country_of(value)
    for error in (
        addresses.check_state(value.get("state"), country),
        addresses.check_zip(value.get("zip"), country),
    ):
        if error:
            problems.append(error)
    return problems


def parse_send_date(value: object) -> datetime | None:
    """`send_date` as an aware datetime; None when absent or unreadable."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
            if parsed.tzinfo is not None:
                # An offset can push year 1 or 9999 out of range once stored as UTC.
                parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            return None
        return parsed
    return None


def _check_send_date(raw_value: object, now: datetime) -> str | None:
    if raw_value is None:
        return None
    value = parse_send_date(raw_value)
    if value is None:
        return "send_date must be an ISO 8601 date-time with a time zone"
    if value.tzinfo is None:
        return "send_date must carry a time zone (e.g., 2026-12-01T09:00:00Z)"
    if value > now + MAX_SEND_DATE_AHEAD:
        return "send_date may be at most 180 days ahead"
    return None
