"""What follows one webhook attempt: the delivery's next status and the endpoint's fate.

A pure decision over what the attempt got back and what came before it; the delivery
service applies the result and decides nothing itself.

- A 2xx answer: the delivery succeeded and the endpoint's failure count starts again.
- Anything else: the next attempt comes by the schedule, lengthened to the receiver's
  Retry-After (`backoff.next_delay_s`); with the schedule spent, or on 410 Gone, the
  delivery has failed.
- Reference 000: N consecutive failed ATTEMPTS (not deliveries) deactivate the endpoint,
  and 410 Gone deactivates it at once. A failure on our side (`ours`: the job or its
  worker was lost, the attempt could not be prepared or recorded) never reached the
  receiver, so it is not counted; one lost to a crash (`lost`) does not end the delivery
  when the schedule is spent either (up to `OURS_EXTRA_ATTEMPTS` attempts beyond it).
- A deactivation ends the delivery too: it has failed, with the endpoint's reason when the
  schedule still had attempts left for it (as every other queued delivery of the endpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.domain import backoff
from engine.domain.statuses import DeliveryStatus

Status = DeliveryStatus

#: The answer that deactivates an endpoint at once.
GONE = 410
#: An attempt lost to a crash of ours (its job or its worker) does not spend the partner's
#: schedule: once the schedule is spent, such a loss is still retried, at the schedule's
#: last step, until the delivery has had this many attempts beyond it.
OURS_EXTRA_ATTEMPTS = 5


@dataclass(frozen=True)
class Outcome:
    """What one attempt leads to."""

    #: The delivery's status from now on.
    status: Status
    #: When the next attempt is due (only while `retrying`).
    retry_at: datetime | None = None
    #: The endpoint's consecutive failed attempts from now on; None leaves it as it is.
    failures: int | None = None
    #: Why the endpoint is deactivated now; None keeps it active.
    deactivate: str | None = None
    #: The schedule had attempts left, but the deactivation ended the delivery.
    cut_short: bool = False


def succeeded(status_code: int | None) -> bool:
    """A 2xx answer; anything else (no answer included) is a failed attempt."""
    return status_code is not None and 200 <= status_code < 300


def counts_against_endpoint(status_code: int | None, *, ours: bool) -> bool:
    """Whether the attempt adds to the endpoint's consecutive failures (so the caller
    must read them for `decide`)."""
    return not ours and not succeeded(status_code)


def decide(
    *,
    status_code: int | None,
    attempt: int,
    schedule_s: tuple[int, ...],
    retry_after: str | None,
    now: datetime,
    consecutive_failures: int,
    max_failures: int,
    ours: bool = False,
    lost: bool = False,
) -> Outcome:
    """What follows attempt number `attempt` (1-based) that got `status_code`.

    `retry_after` is the receiver's Retry-After header as sent; `consecutive_failures` the
    endpoint's count before this attempt (read only when `counts_against_endpoint`);
    `max_failures` the count that deactivates it. `ours`: the failure was on our side;
    `lost` (with it): the attempt was lost to a crash, so it may go beyond the schedule.
    """
    if succeeded(status_code):
        return Outcome(DeliveryStatus.SUCCEEDED, failures=0)
    gone = status_code == GONE
    delay_s = (
        None
        if gone
        else backoff.next_delay_s(
            schedule_s, attempt, backoff.parse_retry_after_s(retry_after, now)
        )
    )
    retry_at = now + timedelta(seconds=delay_s) if delay_s is not None else None
    if ours:
        extra = lost and attempt <= len(schedule_s) + OURS_EXTRA_ATTEMPTS
        if retry_at is None and not gone and extra:
            retry_at = now + timedelta(seconds=schedule_s[-1] if schedule_s else 0)
        return Outcome(_after(retry_at), retry_at=retry_at)
    failures = consecutive_failures + 1
    reason = None
    if gone:
        reason = "the endpoint answered 410 Gone"
    elif failures >= max_failures:
        reason = f"{failures} consecutive failed attempts"
    if reason is not None:
        return Outcome(
            DeliveryStatus.FAILED,
            failures=failures,
            deactivate=reason,
            cut_short=retry_at is not None,
        )
    return Outcome(_after(retry_at), retry_at=retry_at, failures=failures)


def _after(retry_at: datetime | None) -> DeliveryStatus:
    """Retrying when another attempt is scheduled, else failed."""
    return DeliveryStatus.RETRYING if retry_at is not None else DeliveryStatus.FAILED
