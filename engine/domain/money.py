"""Money is integer cents; this module names its movements and formats it for people."""

from __future__ import annotations

import enum


class LedgerKind(enum.StrEnum):
    """What a ledger entry records (the database's CHECK lists the same values)."""

    #: Money added to a wallet (a test top-up, a paid checkout).
    TOPUP = "topup"
    #: Set aside for an accepted order; available drops, balance does not.
    HOLD = "hold"
    #: A hold given back (cancel, failure, skipped recipients).
    RELEASE = "release"
    #: A hold turned into a debit once the cancel window closed.
    CAPTURE = "capture"
    #: An operator's correction.
    ADJUSTMENT = "adjustment"


def format_usd(cents: int) -> str:
    """`1999` -> `$19.99`; negative amounts keep their sign in front."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{frac:02d}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`plural(1, "letter")` -> `1 letter`; `plural(2, "letter")` -> `2 letters`."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"
