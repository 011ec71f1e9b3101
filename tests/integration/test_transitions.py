"""Status changes at the database edge follow the lifecycle table, and nothing else can be
written: every (from, to) pair tried against a real row."""

from __future__ import annotations

import itertools
import uuid

import pytest
import sqlalchemy as sa

from engine.adapters import tables, transitions
from engine.bootstrap import Inkwell
from engine.domain.statuses import CANCELLABLE, TRANSITIONS, OrderStatus
from engine.services import orders, principals
from tests.conftest import MakeTenant, order_body


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
    who = principals.authenticate(inkwell, f"Bearer {t.key}")
    order_id = orders.create_order(inkwell, who, order_body(1)).order.id
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
    # Then exactly the table's moves were written
    assert moved_pairs == {(s, t) for s, targets in TRANSITIONS.items() for t in targets}


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
