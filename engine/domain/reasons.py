"""What a partner is told when something fails: a stable code and a human sentence.

Exception text, SQL, host names, file paths and tracebacks go to job records and logs for
operators, never into `failure_reason`, API error bodies or delivery logs.
"""

from __future__ import annotations

import re

#: Stage actor -> (failure_code, sentence) for an order a stage gave up on.
_STAGE: dict[str, tuple[str, str]] = {
    "check_addresses": ("address_check_failed", "We could not check this order's addresses."),
    "render_order": ("render_failed", "We could not render this order's letters."),
    "capture_order": ("capture_failed", "We could not take payment for this order."),
}
_GENERIC = ("processing_failed", "We could not process this order.")

_UNSAFE = re.compile(
    r"Traceback|[/\\]|\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE)\b|[A-Za-z]+(Error|Exception)\b"
    r"|\b\d{1,3}(\.\d{1,3}){3}\b|\blocalhost\b",
)


def stage_failure(actor_name: str) -> tuple[str, str]:
    """The partner-facing (code, sentence) for a pipeline stage that failed for good."""
    code, sentence = _STAGE.get(actor_name, _GENERIC)
    return code, f"{sentence} Our team has been told; contact support with the order id."


def safe_text(text: str, *, fallback: str = "The request failed.") -> str:
    """`text` if it holds nothing internal (SQL, paths, hosts, class names), else `fallback`."""
    return fallback if _UNSAFE.search(text) else text
