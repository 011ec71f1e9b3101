"""Status changes at the database edge are the moves the business allows
(tests/lifecycle.py), and nothing else can be written: every (from, to) pair tried against
a real row."""

from __future__ import annotations

import itertools
import uuid

import pytest
import sqlalchemy as sa

from engine.adapters import tables, transitions
from engine.bootstrap import Inkwell
from engine.domain.statuses import CANCELLABLE, OrderStatus
from tests import lifecycle
from tests.conftest import MakeTenant
from tests.factories import create_order


def set_status(app: Inkwell, order_id: uuid.UUID, status: OrderStatus) -> None:
    with app.uow() as uow:
        uow.session.execute(
            sa.update(tables.Order).where(tables.Order.id == order_id).values(status=status.value)
        )
        uow.commit()


def test_every_move_the_table_lists_is_written_and_no_other(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an order
    t = make_tenant(credits_cents=10_000)
    order_id = create_order(inkwell, t)
    moved_pairs = set()
    for source, target in itertools.product(OrderStatus, OrderStatus):
        # When it stands in `source` and the compare-and-set for `target` runs
        set_status(inkwell, order_id, source)
        try:
            statement = transitions.move(target)
        except transitions.NotInLifecycle:
            continue  # nothing may ever reach `target`
        with inkwell.uow() as uow:
            row = uow.session.execute(
                statement.returning(tables.Order.status), {"oid": order_id}
            ).one_or_none()
            uow.commit()
        if row is not None:
            assert row.status == target.value
            moved_pairs.add((source, target))
    # Then exactly the moves the business allows were written, no other
    assert moved_pairs == lifecycle.ALLOWED_MOVES


def test_a_narrowed_move_leaves_a_row_in_another_allowed_status_alone(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a pending order
    t = make_tenant(credits_cents=10_000)
    order_id = create_order(inkwell, t)

    def cancel_from(*only_from: OrderStatus) -> bool:
        with inkwell.uow() as uow:
            row = uow.session.execute(
                transitions.move(OrderStatus.CANCELLED, only_from=only_from).returning(
                    tables.Order.id
                ),
                {"oid": order_id},
            ).one_or_none()
            uow.commit()
        return row is not None

    # When it is cancelled "from draft" only (pending may be cancelled, but was not named)
    # Then the row is not touched
    assert cancel_from(OrderStatus.DRAFT) is False
    with inkwell.uow() as uow:
        assert uow.session.scalar(sa.select(tables.Order.status)) == "pending"
    # When it is cancelled from pending, Then it moves
    assert cancel_from(OrderStatus.PENDING) is True
    with inkwell.uow() as uow:
        assert uow.session.scalar(sa.select(tables.Order.status)) == "cancelled"
    # And a second cancel finds nothing to move
    assert cancel_from(OrderStatus.PENDING) is False


def test_a_move_outside_the_table_cannot_even_be_built() -> None:
    # Given moves the lifecycle does not list
    # When their compare-and-set is asked for, Then it is refused before any SQL
    with pytest.raises(transitions.NotInLifecycle):
        transitions.move(OrderStatus.PENDING, only_from=[OrderStatus.SHIPPED])
    with pytest.raises(transitions.NotInLifecycle):
        transitions.move(OrderStatus.DRAFT)  # nothing leads back to draft
    # And narrowing within the table is allowed
    assert transitions.sources(OrderStatus.CANCELLED) == sorted(s.value for s in CANCELLABLE)
    assert transitions.sources(OrderStatus.PENDING, [OrderStatus.FAILED]) == ["failed"]
