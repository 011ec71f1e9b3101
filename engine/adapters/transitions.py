"""Order status changes at the database edge, built from the lifecycle table.

`move(target)` is the compare-and-set `UPDATE orders SET status = target WHERE id = :oid
AND status IN (...)`, its sources read from `statuses.TRANSITIONS`; narrowing them with
`only_from` is allowed, widening is not. So a move the table does not list cannot be
written: building it raises, and at run time a row in any other status is left alone (no
row back: someone else moved it).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from engine.adapters import tables
from engine.domain import statuses
from engine.domain.statuses import OrderStatus

_O = tables.table_of(tables.Order)


class NotInLifecycle(ValueError):
    """A status change the lifecycle table does not allow."""


def sources(target: OrderStatus, only_from: Iterable[OrderStatus] | None = None) -> list[str]:
    """The statuses an order may be moved to `target` from (all the table allows, or the
    part of them named in `only_from`)."""
    allowed = statuses.sources_of(target)
    wanted = allowed if only_from is None else frozenset(only_from)
    if not wanted or not wanted <= allowed:
        raise NotInLifecycle(f"{sorted(wanted - allowed) or 'nothing'} -> {target.value}")
    return sorted(s.value for s in wanted)


def move(target: OrderStatus, *, only_from: Iterable[OrderStatus] | None = None) -> sa.Update:
    """The compare-and-set for `target` (bind `oid`); add `.values()`, `.where()` and
    `.returning()` as the use case needs."""
    return (
        sa.update(_O)
        .where(_O.c.id == sa.bindparam("oid"), _O.c.status.in_(sources(target, only_from)))
        .values(status=target.value)
    )
