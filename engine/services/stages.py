"""What the pipeline's stages share: which actor moves an order out of each stage, what a
run of one came to, and the compare-and-set that claims a stage.

`pipeline` runs the stages; `failures` fails an order and re-opens it where it failed.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import tables
from engine.domain.statuses import OrderStatus, Stage

#: The actor that moves an order out of each stage.
NEXT_ACTOR: dict[Stage, str] = {
    Stage.RECEIVED: "check_addresses",
    Stage.ADDRESSES_CHECKED: "render_order",
    Stage.RENDERED: "capture_order",
}
#: The stage each pipeline actor expects to find.
ACTOR_STAGE = {actor: stage for stage, actor in NEXT_ACTOR.items()}


class Outcome(enum.StrEnum):
    DONE = "done"
    #: Nothing to do: the order is past this stage, or no longer pending.
    SKIPPED = "skipped"
    #: Too early (capture before `cancellable_until`); enqueued again for later.
    DEFERRED = "deferred"
    #: The order failed in this stage.
    FAILED = "failed"


class StageState(Protocol):
    """What a stage reads to decide whether the order is its to run (an Order, or a row of
    its columns)."""

    @property
    def status(self) -> str: ...
    @property
    def stage(self) -> str: ...


class Claimed(Protocol):
    """What a stage reads of the order it claimed (the row `claim` returns)."""

    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def skip_invalid(self) -> bool: ...
    @property
    def cancellable_until(self) -> datetime: ...


_O = tables.table_of(tables.Order)

#: Built once (they run for every order): claim a stage, read its state.
_CLAIM = (
    sa.update(_O)
    .where(
        _O.c.id == sa.bindparam("oid"),
        _O.c.status == OrderStatus.PENDING.value,
        _O.c.stage == sa.bindparam("src"),
    )
    .values(
        stage=sa.bindparam("dst"),
        stage_changed_at=sa.bindparam("now"),
        stage_attempts=0,
        updated_at=sa.bindparam("now"),
    )
    .returning(*_O.c)
)
ORDER_STATE = sa.select(
    _O.c.status, _O.c.stage, _O.c.message_body, _O.c.cancellable_until, _O.c.tenant_id
).where(_O.c.id == sa.bindparam("oid"))


def claim(
    session: Session, order_id: uuid.UUID, src: Stage, dst: Stage, now: datetime
) -> Claimed | None:
    """Compare-and-set the order from `src` to `dst`; None when it was not pending at `src`."""
    return session.execute(
        _CLAIM, {"oid": order_id, "src": src.value, "dst": dst.value, "now": now}
    ).one_or_none()


def at(order: StageState | None, stage: Stage) -> bool:
    """Whether the order (or a row of its state) is pending at `stage`."""
    return (
        order is not None
        and order.status == OrderStatus.PENDING.value
        and order.stage == stage.value
    )
