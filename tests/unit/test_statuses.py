"""The order lifecycle is declared once and is consistent (DESIGN.md section 2)."""

from __future__ import annotations

import pytest

from engine.domain.statuses import (
    CANCELLABLE,
    TERMINAL,
    TRANSITIONS,
    OrderStatus,
    sources_of,
)

S = OrderStatus


def test_cancellable_is_exactly_draft_pending_payment_and_pending() -> None:
    # Given the lifecycle in DESIGN.md section 2
    # When we read the cancellable set
    # Then it holds these three and nothing else
    assert frozenset({S.DRAFT, S.PENDING_PAYMENT, S.PENDING}) == CANCELLABLE


def test_every_cancellable_status_may_move_to_cancelled() -> None:
    # Given each cancellable status
    # When we look up where it may go
    # Then cancelled is among its moves, and no other status may move to cancelled
    for status in CANCELLABLE:
        assert S.CANCELLED in TRANSITIONS[status], status
    assert sources_of(S.CANCELLED) == CANCELLABLE


def test_terminal_statuses_have_no_way_out() -> None:
    # Given the statuses declared terminal
    # When we look up where each may go
    moves = {status: TRANSITIONS[status] for status in TERMINAL}

    # Then none has anywhere to go, and none of them is cancellable
    assert {s: m for s, m in moves.items() if m} == {}
    assert not (TERMINAL & CANCELLABLE)


def test_shipped_cancelled_and_expired_are_terminal() -> None:
    # Given the end states of DESIGN.md section 2
    # When we read the terminal set
    # Then each of them is in it
    assert frozenset({S.SHIPPED, S.CANCELLED, S.EXPIRED}) <= TERMINAL


def test_failed_leaves_only_by_admin_replay_to_pending() -> None:
    # Given a failed order (terminal for the partner)
    # When an admin replays it
    # Then pending is its only move
    assert TRANSITIONS[S.FAILED] == frozenset({S.PENDING})


def test_every_status_appears_in_the_table_and_only_statuses_do() -> None:
    # Given every declared status
    # When we read the transitions table
    # Then each status has a row, and every target is a declared status
    assert set(TRANSITIONS) == set(OrderStatus)
    for status, targets in TRANSITIONS.items():
        assert targets <= set(OrderStatus), status
        assert status not in targets, f"{status} moves to itself"


def test_every_status_but_draft_is_reachable() -> None:
    # Given the table
    # When we ask where each status can be reached from
    # Then only draft (where orders start) has no source
    unreachable = {s for s in OrderStatus if not sources_of(s)}
    assert unreachable == {S.DRAFT}


@pytest.mark.parametrize(
    ("target", "sources"),
    [
        (S.PENDING, {S.DRAFT, S.PENDING_PAYMENT, S.FAILED}),
        (S.PROCESSING, {S.PENDING}),
        (S.COMPLETED, {S.PROCESSING}),
        (S.SHIPPED, {S.COMPLETED}),
        (S.FAILED, {S.PENDING}),
        (S.EXPIRED, {S.PENDING_PAYMENT}),
        (S.PENDING_PAYMENT, {S.DRAFT}),
        (S.DRAFT, set()),
    ],
)
def test_sources_of(target: OrderStatus, sources: set[OrderStatus]) -> None:
    # Given a target status
    # When we ask which statuses may move to it
    found = sources_of(target)

    # Then the answer matches DESIGN.md section 2 and agrees with the table
    assert found == frozenset(sources)
    assert found == frozenset(s for s, dests in TRANSITIONS.items() if target in dests)
