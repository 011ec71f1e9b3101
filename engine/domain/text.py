"""What text may be stored: no NUL or other control characters, no lone surrogates."""

from __future__ import annotations

import math

_MULTILINE_OK = {"\n", "\r", "\t"}


def unstorable(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` cannot be stored as text, or None."""
    for char in value:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            return "contains invalid Unicode (a lone surrogate)"
        if (code < 32 or code == 127) and not (multiline and char in _MULTILINE_OK):
            return "must not contain control characters" + ("" if multiline else " or line breaks")
    return None


def unstorable_number(value: object) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    return None


def clean(value: str) -> str:
    """`value` with every unstorable character replaced by U+FFFD (for logs of bad input)."""
    return "".join(
        "\ufffd" if (0xD800 <= ord(c) <= 0xDFFF or ord(c) < 32 or ord(c) == 127) else c
        for c in value
    )
