"""Order failures as the partner sees them: stable codes, human sentences, nothing private."""

from __future__ import annotations

import pytest

from engine.domain import reasons


@pytest.mark.parametrize(
    ("actor", "code"),
    [
        ("check_addresses", "address_check_failed"),
        ("render_order", "render_failed"),
        ("capture_order", "capture_failed"),
        ("something_new", "processing_failed"),
    ],
)
def test_a_stage_that_gave_up_has_its_code(actor: str, code: str) -> None:
    failure = reasons.stage_failure(actor)
    assert failure.code == code and failure.code in reasons.ORDER_FAILURE_CODES
    assert reasons.safe_text(failure.reason, fallback="") == failure.reason
    assert "contact support" in failure.reason


@pytest.mark.parametrize("actor", ["check_addresses", "render_order", "capture_order", "?"])
def test_a_stalled_order_is_told_what_did_not_finish_not_the_stage_name(actor: str) -> None:
    failure = reasons.stalled(actor)
    assert failure.code == "stalled" and failure.code in reasons.ORDER_FAILURE_CODES
    assert "did not finish" in failure.reason
    for internal in ("received", "addresses_checked", "rendered", "Stage", actor):
        assert internal not in failure.reason


def test_invalid_addresses_lists_each_recipient_by_index() -> None:
    failure = reasons.invalid_addresses(
        [(0, "zip is required for US addresses"), (3, 'Invalid US state "ZZ". Use …')],
        recipients=4,
    )
    assert failure == reasons.Failure(
        "invalid_addresses",
        "2 of 4 recipients failed the address check. "
        "Recipient 0: zip is required for US addresses. "
        'Recipient 3: Invalid US state "ZZ". Use ….',
    )


def test_invalid_addresses_counts_the_rest_and_stays_short() -> None:
    problems = [(i, "city must be at most 100 characters (got 900)") for i in range(100)]
    failure = reasons.invalid_addresses(problems, recipients=100)
    assert failure.reason.count("Recipient ") == reasons.MAX_LISTED_RECIPIENTS
    assert failure.reason.endswith("95 more recipients failed too.")
    many = [(i, "x" * 400) for i in range(5)]
    assert len(reasons.invalid_addresses(many, recipients=5).reason) <= reasons.MAX_REASON_CHARS


def test_the_codes_are_the_documented_ones() -> None:
    assert set(reasons.ORDER_FAILURE_CODES) == {
        "invalid_addresses",
        "address_check_failed",
        "render_failed",
        "capture_failed",
        "stalled",
        "processing_failed",
    }
