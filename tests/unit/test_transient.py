"""is_transient as a table: infrastructure hiccups retry, everything else is permanent."""

from __future__ import annotations

import pytest
import redis.exceptions
import sqlalchemy as sa

from engine import errors
from engine.domain import reasons
from engine.services.jobs import is_transient


class _Orig(Exception):
    pass


def _db(kind: type[sa.exc.DBAPIError]) -> sa.exc.DBAPIError:
    return kind("SELECT 1", {}, _Orig("boom"))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_db(sa.exc.OperationalError), True),
        (_db(sa.exc.InterfaceError), True),
        (sa.exc.TimeoutError("pool"), True),
        (ConnectionResetError("reset"), True),
        (TimeoutError("slow"), True),
        (redis.exceptions.ConnectionError("down"), True),
        (redis.exceptions.TimeoutError("slow"), True),
        (_db(sa.exc.IntegrityError), False),
        (_db(sa.exc.ProgrammingError), False),
        (_db(sa.exc.DataError), False),
        (ValueError("bad"), False),
        (KeyError("x"), False),
        (errors.StaleState("order", 1), False),
        (redis.exceptions.ResponseError("WRONGTYPE"), False),
    ],
)
def test_is_transient(exc: BaseException, expected: bool) -> None:
    assert is_transient(exc) is expected


@pytest.mark.parametrize("actor", ["check_addresses", "render_order", "capture_order", "unknown"])
def test_stage_failure_is_a_code_and_a_clean_sentence(actor: str) -> None:
    code, sentence = reasons.stage_failure(actor)
    assert code.endswith("_failed")
    assert reasons.safe_text(sentence, fallback="") == sentence


@pytest.mark.parametrize(
    "text",
    [
        "OperationalError: could not connect",
        "Traceback (most recent call last)",
        "INSERT INTO orders VALUES",
        "/var/lib/inkwell/x.pdf",
        "connect to 10.0.0.5 failed",
    ],
)
def test_safe_text_refuses_internal_text(text: str) -> None:
    assert reasons.safe_text(text) == "The request failed."
