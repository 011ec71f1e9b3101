"""The order moves the business allows, written out by hand from the product rules (not
read from `engine.domain.statuses.TRANSITIONS`), so tests can hold the engine to them."""

from __future__ import annotations

from engine.domain.statuses import OrderStatus as S

#: (from, to): every move an order may make, and why.
ALLOWED_MOVES = frozenset(
    {
        (S.DRAFT, S.PENDING),  # checked out with credits
        (S.DRAFT, S.PENDING_PAYMENT),  # sent to a hosted checkout
        (S.DRAFT, S.CANCELLED),
        (S.PENDING_PAYMENT, S.PENDING),  # checkout paid
        (S.PENDING_PAYMENT, S.CANCELLED),
        (S.PENDING_PAYMENT, S.EXPIRED),  # checkout never paid
        (S.PENDING, S.PROCESSING),  # pipeline done, credits captured
        (S.PENDING, S.CANCELLED),  # inside the cancel window
        (S.PENDING, S.FAILED),  # the pipeline gave up
        (S.PROCESSING, S.COMPLETED),  # every letter printed
        (S.COMPLETED, S.SHIPPED),  # every letter mailed
        (S.FAILED, S.PENDING),  # admin replay
    }
)

#: Statuses an order never leaves.
END_STATES = frozenset({S.SHIPPED, S.CANCELLED, S.EXPIRED})
#: Statuses a partner may cancel from.
CANCELLABLE = frozenset({S.DRAFT, S.PENDING_PAYMENT, S.PENDING})


def sources(target: S) -> set[S]:
    """Every status the business lets an order move to `target` from."""
    return {src for src, dst in ALLOWED_MOVES if dst == target}
