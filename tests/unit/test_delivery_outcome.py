"""What follows one webhook attempt, as a table: what the attempt got and what came before
it → the delivery's status, its next attempt, and the endpoint's count and fate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest

from engine.domain import delivery_outcome
from engine.domain.delivery_outcome import Outcome

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEDULE = (30, 300, 3600)  # 000's default: 30 s, 5 min, 1 h
AN_HOUR_ON = "Sun, 01 Mar 2026 13:00:00 GMT"
GONE = "the endpoint answered 410 Gone"


class Row(NamedTuple):
    status_code: int | None  # None: no answer (timeout, refused, an error of ours)
    attempt: int
    retry_after: str | None
    failures_before: int
    max_failures: int
    ours: bool
    expected: Outcome
    schedule_s: tuple[int, ...] = SCHEDULE
    #: Lost to a crash of ours (its job or worker): may go beyond the schedule.
    lost: bool = False


def retrying(in_s: float, failures: int | None) -> Outcome:
    return Outcome("retrying", retry_at=NOW + timedelta(seconds=in_s), failures=failures)


def failed(failures: int | None) -> Outcome:
    return Outcome("failed", failures=failures)


def deactivated(failures: int, reason: str, *, cut_short: bool) -> Outcome:
    return Outcome("failed", failures=failures, deactivate=reason, cut_short=cut_short)


SUCCEEDED = Outcome("succeeded", failures=0)

# fmt: off
TABLE = {
    # --- a 2xx answer succeeds and starts the endpoint's count again -----------------------
    "200 first attempt":                    Row(200, 1, None, 0, 3, False, SUCCEEDED),
    "204 after two failures":               Row(204, 3, None, 2, 3, False, SUCCEEDED),
    "299 is still 2xx":                     Row(299, 1, None, 0, 3, False, SUCCEEDED),
    "200 ignores Retry-After":              Row(200, 1, "120", 0, 3, False, SUCCEEDED),
    # --- any other answer retries by the schedule ----------------------------------------
    "300 is a failure (no redirects)":      Row(300, 1, None, 0, 3, False, retrying(30, 1)),
    "500 attempt 1 -> 30 s":                Row(500, 1, None, 0, 3, False, retrying(30, 1)),
    "500 attempt 2 -> 5 min":               Row(500, 2, None, 1, 3, False, retrying(300, 2)),
    "500 attempt 3 -> 1 h":                 Row(500, 3, None, 0, 5, False, retrying(3600, 1)),
    "no answer attempt 1 -> 30 s":          Row(None, 1, None, 0, 3, False, retrying(30, 1)),
    # --- Retry-After lengthens the wait, never shortens it, within 6 h ---------------------
    "Retry-After 120 s > 30 s":             Row(503, 1, "120", 0, 3, False, retrying(120, 1)),
    "Retry-After 5 s < 30 s":               Row(503, 1, "5", 0, 3, False, retrying(30, 1)),
    "Retry-After as HTTP date, 1 h":        Row(429, 1, AN_HOUR_ON, 0, 3, False, retrying(3600, 1)),
    "Retry-After capped at 6 h":            Row(503, 1, "9999999", 0, 3, False, retrying(21600, 1)),
    "Retry-After unreadable: schedule":     Row(503, 1, "soon", 0, 3, False, retrying(30, 1)),
    # --- the schedule spent: failed, the endpoint stays -----------------------------------
    "500 attempt 4, schedule spent":        Row(500, 4, None, 0, 5, False, failed(1)),
    "empty schedule: first failure ends":   Row(500, 1, None, 0, 3, False, failed(1), ()),
    # --- N consecutive failed attempts deactivate -----------------------------------------
    "3rd consecutive failure deactivates":  Row(500, 3, None, 2, 3, False,
                                                deactivated(3, "3 consecutive failed attempts",
                                                            cut_short=True)),
    "count spans deliveries (attempt 1)":   Row(None, 1, None, 2, 3, False,
                                                deactivated(3, "3 consecutive failed attempts",
                                                            cut_short=True)),
    "deactivation on the last attempt":     Row(500, 4, None, 3, 3, False,
                                                deactivated(4, "4 consecutive failed attempts",
                                                            cut_short=False)),
    "threshold 1: the first failure":       Row(500, 1, None, 0, 1, False,
                                                deactivated(1, "1 consecutive failed attempts",
                                                            cut_short=True)),
    "2 of 3: not yet":                      Row(500, 2, None, 1, 3, False, retrying(300, 2)),
    # --- 410 Gone: failed and deactivated at once, Retry-After or not ----------------------
    "410 on attempt 1":                     Row(410, 1, None, 0, 3, False,
                                                deactivated(1, GONE, cut_short=False)),
    "410 ignores Retry-After":              Row(410, 1, "60", 0, 3, False,
                                                deactivated(1, GONE, cut_short=False)),
    "410 past the threshold says Gone":     Row(410, 2, None, 5, 3, False,
                                                deactivated(6, GONE, cut_short=False)),
    # --- ours: the receiver never saw it; not counted, never deactivates -------------------
    "ours, attempt 1 -> 30 s":              Row(None, 1, None, 2, 3, True, retrying(30, None)),
    "ours at the threshold":                Row(None, 2, None, 3, 3, True, retrying(300, None)),
    "ours, schedule spent":                 Row(None, 4, None, 2, 3, True, failed(None)),
    # --- lost to our crash: does not spend the partner's schedule (5 more at its last step)
    "lost, attempt 1 -> 30 s":    Row(None, 1, None, 2, 3, True, retrying(30, None), lost=True),
    "lost, schedule spent":       Row(None, 4, None, 2, 3, True, retrying(3600, None), lost=True),
    "lost, last extra attempt":   Row(None, 8, None, 2, 3, True, retrying(3600, None), lost=True),
    "lost, extras spent":         Row(None, 9, None, 2, 3, True, failed(None), lost=True),
    "theirs, schedule spent":               Row(500, 4, None, 0, 9, False, failed(1)),
}
# fmt: on


@pytest.mark.parametrize("row", TABLE.values(), ids=TABLE.keys())
def test_what_follows_an_attempt(row: Row) -> None:
    outcome = delivery_outcome.decide(
        status_code=row.status_code,
        attempt=row.attempt,
        schedule_s=row.schedule_s,
        retry_after=row.retry_after,
        now=NOW,
        consecutive_failures=row.failures_before,
        max_failures=row.max_failures,
        ours=row.ours,
        lost=row.lost,
    )
    assert outcome == row.expected


@pytest.mark.parametrize(
    ("status_code", "ours", "counts"),
    [
        (200, False, False),
        (500, False, True),
        (410, False, True),
        (None, False, True),
        (None, True, False),
    ],
)
def test_which_attempts_count_against_the_endpoint(
    status_code: int | None, ours: bool, counts: bool
) -> None:
    assert delivery_outcome.counts_against_endpoint(status_code, ours=ours) is counts


def test_every_outcome_is_consistent() -> None:
    # Across a grid of answers, attempts, counts and sides: retrying always says when,
    # a deactivation always fails the delivery, and ours never moves the count.
    for code in (200, 301, 404, 410, 429, 500, None):
        for attempt in range(1, 6):
            for before in range(5):
                for ours in (False, True) if code is None else (False,):
                    outcome = delivery_outcome.decide(
                        status_code=code,
                        attempt=attempt,
                        schedule_s=SCHEDULE,
                        retry_after="120",
                        now=NOW,
                        consecutive_failures=before,
                        max_failures=3,
                        ours=ours,
                    )
                    assert (outcome.status == "retrying") == (outcome.retry_at is not None)
                    assert outcome.deactivate is None or outcome.status == "failed"
                    assert not outcome.cut_short or outcome.deactivate is not None
                    if ours:
                        assert outcome.failures is None and outcome.deactivate is None
