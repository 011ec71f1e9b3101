"""`{{first_name}}`-style merge fields in a message."""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")


def placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def merge(template: str, fields: Mapping[str, object]) -> str:
    """Replace every `{{name}}` with its field; a missing field becomes empty text."""

    def value(match: re.Match[str]) -> str:
        found = fields.get(match.group(1))
        return "" if found is None else str(found)

    return PLACEHOLDER.sub(value, template)


def fields_of(recipient: Mapping[str, object]) -> dict[str, object]:
    """A recipient's merge fields: its own fields, then its `custom_fields` over them."""
    fields = {k: v for k, v in recipient.items() if k != "custom_fields"}
    custom = recipient.get("custom_fields")
    if isinstance(custom, Mapping):
        fields.update(custom)
    return fields
