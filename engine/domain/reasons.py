"""What a partner is told when an order fails: a stable code and a human sentence.

Exception text, SQL, host names, file paths and tracebacks go to job records and logs for
operators, never into `failure_code`/`failure_reason`, API error bodies or delivery logs.
Every code an order can fail with is in `ORDER_FAILURE_CODES` (the README lists them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple


class Failure(NamedTuple):
    """Why an order failed, as the partner sees it."""

    #: Stable, machine-readable (`failure_code` on the order and in `order.failed`).
    code: str
    #: One or two human sentences (`failure_reason`); no internals, names or streets.
    reason: str


_SUPPORT = "Our team has been told; contact support with the order id."

#: Stage actor -> (failure_code, sentence) for an order a stage gave up on.
_STAGE: dict[str, tuple[str, str]] = {
    "check_addresses": ("address_check_failed", "We could not check this order's addresses."),
    "render_order": ("render_failed", "We could not render this order's letters."),
    "capture_order": ("capture_failed", "We could not take payment for this order."),
}
_GENERIC = ("processing_failed", "We could not process this order.")
#: Stage actor -> what did not finish, for an order the sweeper stopped retrying.
_STALLED: dict[str, str] = {
    "check_addresses": "Checking this order's addresses",
    "render_order": "Rendering this order's letters",
    "capture_order": "Taking payment for this order",
}

#: Every `failure_code` an order can carry.
ORDER_FAILURE_CODES = (
    "invalid_addresses",
    *sorted({code for code, _ in _STAGE.values()}),
    "stalled",
    _GENERIC[0],
)
#: Recipients named one by one in an address-check failure; the rest are counted.
MAX_LISTED_RECIPIENTS = 5
MAX_REASON_CHARS = 1000

_UNSAFE = re.compile(
    r"Traceback|[/\\]|\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE)\b|[A-Za-z]+(Error|Exception)\b"
    r"|\b\d{1,3}(\.\d{1,3}){3}\b|\blocalhost\b",
)


def stage_failure(actor_name: str) -> Failure:
    """The partner-facing failure for a pipeline stage that failed for good."""
    code, sentence = _STAGE.get(actor_name, _GENERIC)
    return Failure(code, f"{sentence} {_SUPPORT}")


def stalled(actor_name: str) -> Failure:
    """The failure for an order whose stage never finished and was given up on (sweeper)."""
    what = _STALLED.get(actor_name, "Processing this order")
    return Failure("stalled", f"{what} did not finish after repeated tries. {_SUPPORT}")


def invalid_addresses(problems: Sequence[tuple[int, str]], *, recipients: int) -> Failure:
    """The failure for an order whose recipients failed the address check.

    `problems` are (recipient_index, problem) pairs, the index as in API errors, out of
    `recipients` checked. A problem
    names the field and at most the bad value of a state, ZIP or country; never a name or
    a street line (`addresses.check_recipient` does not echo those).
    """
    listed = [f"Recipient {i}: {p.rstrip('.')}." for i, p in problems[:MAX_LISTED_RECIPIENTS]]
    more = len(problems) - len(listed)
    if more > 0:
        listed.append(f"{more} more recipients failed too.")
    head = f"{len(problems)} of {recipients} recipients failed the address check."
    reason = " ".join([head, *listed])
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1].rstrip() + "…"
    return Failure("invalid_addresses", reason)


def safe_text(text: str, *, fallback: str = "The request failed.") -> str:
    """`text` if it holds nothing internal (SQL, paths, hosts, class names), else `fallback`."""
    return fallback if _UNSAFE.search(text) else text
