"""The order lifecycle the engine writes is the one the business states (tests/lifecycle.py):
each compare-and-set `transitions.move()` builds admits exactly the allowed sources, and
every concrete flow is allowed or refused as it should be. The same moves are tried
against a real row in tests/integration/test_transitions.py."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from engine.adapters import transitions
from engine.domain import statuses
from engine.domain.statuses import OrderStatus
from tests import lifecycle

S = OrderStatus


def admitted(statement: sa.Update) -> tuple[str, set[str]]:
    """(the status the statement writes, the statuses its WHERE admits), as compiled for
    PostgreSQL."""
    compiled = statement.compile(dialect=postgresql.dialect())
    sql = str(compiled)
    assert "orders.id = %(oid)s" in sql, sql
    assert "orders.status IN (__[POSTCOMPILE_status_1])" in sql, sql
    return compiled.params["status"], set(compiled.params["status_1"])


@pytest.mark.parametrize("target", list(OrderStatus), ids=str)
def test_each_compare_and_set_admits_exactly_the_allowed_sources(target: OrderStatus) -> None:
    # Given the statuses the business lets an order reach `target` from
    expected = {s.value for s in lifecycle.sources(target)}

    # When the compare-and-set for `target` is built
    if not expected:
        # Then nothing may reach it, so it cannot be built
        with pytest.raises(transitions.NotInLifecycle):
            transitions.move(target)
        return
    written, where = admitted(transitions.move(target))

    # Then it writes `target` to a row in exactly those statuses
    assert written == target.value
    assert where == expected


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        (S.PENDING, S.CANCELLED, True),
        (S.DRAFT, S.CANCELLED, True),
        (S.PENDING_PAYMENT, S.CANCELLED, True),
        (S.PROCESSING, S.CANCELLED, False),
        (S.COMPLETED, S.CANCELLED, False),
        (S.SHIPPED, S.CANCELLED, False),
        (S.FAILED, S.CANCELLED, False),
        (S.PENDING, S.PROCESSING, True),
        (S.DRAFT, S.PROCESSING, False),
        (S.PENDING_PAYMENT, S.PROCESSING, False),
        (S.PENDING, S.FAILED, True),
        (S.PROCESSING, S.FAILED, False),
        (S.FAILED, S.PENDING, True),
        (S.CANCELLED, S.PENDING, False),
        (S.PROCESSING, S.COMPLETED, True),
        (S.PENDING, S.COMPLETED, False),
        (S.COMPLETED, S.SHIPPED, True),
        (S.PROCESSING, S.SHIPPED, False),
        (S.PENDING_PAYMENT, S.EXPIRED, True),
        (S.PENDING, S.EXPIRED, False),
        (S.PROCESSING, S.PENDING, False),
    ],
)
def test_business_flows_are_allowed_or_refused(
    source: OrderStatus, target: OrderStatus, allowed: bool
) -> None:
    # Given an order in `source`
    # When the engine is asked for the move to `target` from there alone
    if allowed:
        # Then an allowed move admits that one status and no other
        assert admitted(transitions.move(target, only_from=[source])) == (
            target.value,
            {source.value},
        )
    else:
        # Then a refused one cannot even be built
        with pytest.raises(transitions.NotInLifecycle):
            transitions.move(target, only_from=[source])


@pytest.mark.parametrize("end", sorted(lifecycle.END_STATES), ids=str)
def test_terminal_statuses_have_no_way_out(end: OrderStatus) -> None:
    # Given an order in an end state (declared terminal by the engine too)
    assert end in statuses.TERMINAL
    # When a move to any status is asked for from there
    # Then none can be built
    for target in OrderStatus:
        with pytest.raises(transitions.NotInLifecycle):
            transitions.move(target, only_from=[end])


def test_the_engines_named_sets_are_the_business_ones() -> None:
    # Given the sets the services decide with
    # Then they hold exactly the business's statuses: failed is not terminal (an admin
    # replay re-opens it) and nothing terminal is cancellable
    assert statuses.TERMINAL == lifecycle.END_STATES
    assert statuses.CANCELLABLE == lifecycle.CANCELLABLE
    assert S.FAILED not in statuses.TERMINAL
    # And cancelling is possible from exactly the cancellable statuses
    _, where = admitted(transitions.move(S.CANCELLED))
    assert where == {s.value for s in lifecycle.CANCELLABLE}


def test_narrowing_is_allowed_and_widening_is_not() -> None:
    # Given the move to cancelled (allowed from draft, pending_payment and pending)
    # When it is narrowed to pending
    # Then only pending is admitted
    assert admitted(transitions.move(S.CANCELLED, only_from=[S.PENDING]))[1] == {"pending"}
    # When it names a status outside the allowed ones, or none at all, it is refused
    with pytest.raises(transitions.NotInLifecycle):
        transitions.move(S.CANCELLED, only_from=[S.PENDING, S.PROCESSING])
    with pytest.raises(transitions.NotInLifecycle):
        transitions.move(S.CANCELLED, only_from=[])
