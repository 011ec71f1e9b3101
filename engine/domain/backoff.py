"""When to try a webhook again: pure functions over the configured schedule."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

#: A receiver's Retry-After is honoured up to this long.
MAX_RETRY_AFTER_S = 6 * 3600


def retry_delay_s(schedule_s: tuple[int, ...], attempts_made: int) -> int | None:
    """Delay before the next attempt after `attempts_made` failed ones; None when spent.

    With the default (30, 300, 3600): 1 failed attempt → 30 s, 2 → 300 s, 3 → 3600 s,
    4 → None (the delivery has failed).
    """
    if attempts_made < 1 or attempts_made > len(schedule_s):
        return None
    return schedule_s[attempts_made - 1]


def parse_retry_after_s(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not str.isdigit alone: "²" is a digit to it
        return min(float(value), float(MAX_RETRY_AFTER_S))
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            return None
        return max((when - now).total_seconds(), 0.0)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def next_delay_s(
    schedule_s: tuple[int, ...], attempts_made: int, retry_after_s: float | None
) -> float | None:
    """The schedule's delay, lengthened to the receiver's Retry-After (within bounds)."""
    base = retry_delay_s(schedule_s, attempts_made)
    if base is None:
        return None
    if retry_after_s is None:
        return float(base)
    return max(float(base), min(retry_after_s, float(MAX_RETRY_AFTER_S)))
