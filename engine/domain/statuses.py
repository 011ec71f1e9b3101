"""The order and letter lifecycles, declared once (DESIGN.md section 2)."""

from __future__ import annotations

import enum


class OrderStatus(enum.StrEnum):
    #: Built through the API but not yet checked out; no money held.
    DRAFT = "draft"
    #: Waiting for a hosted checkout to be paid.
    PENDING_PAYMENT = "pending_payment"
    #: Accepted, credits held, pipeline running.
    PENDING = "pending"
    #: Pipeline finished and credits captured; in production.
    PROCESSING = "processing"
    #: Every letter printed.
    COMPLETED = "completed"
    #: Every letter mailed.
    SHIPPED = "shipped"
    #: Cancelled by the partner; hold voided.
    CANCELLED = "cancelled"
    #: The pipeline gave up; hold voided; `failure_reason` says why.
    FAILED = "failed"
    #: A hosted checkout that was never paid.
    EXPIRED = "expired"


CANCELLABLE = frozenset({OrderStatus.DRAFT, OrderStatus.PENDING_PAYMENT, OrderStatus.PENDING})
#: No way out. `failed` is not among them: an admin replay re-opens a failed order.
TERMINAL = frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED, OrderStatus.EXPIRED})

#: Every move an order may make; anything else is a bug or a race lost.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.DRAFT: frozenset(
        {OrderStatus.PENDING, OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED}
    ),
    OrderStatus.PENDING_PAYMENT: frozenset(
        {OrderStatus.PENDING, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
    ),
    OrderStatus.PENDING: frozenset(
        {OrderStatus.PROCESSING, OrderStatus.CANCELLED, OrderStatus.FAILED}
    ),
    OrderStatus.PROCESSING: frozenset({OrderStatus.COMPLETED}),
    OrderStatus.COMPLETED: frozenset({OrderStatus.SHIPPED}),
    OrderStatus.FAILED: frozenset({OrderStatus.PENDING}),  # admin replay
    OrderStatus.SHIPPED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


def sources_of(target: OrderStatus) -> frozenset[OrderStatus]:
    """Every status from which `target` may be reached."""
    return frozenset(src for src, dests in TRANSITIONS.items() if target in dests)


class Stage(enum.StrEnum):
    """The pipeline's own progress on a pending order; internal, never a public status."""

    #: Accepted; addresses not yet checked.
    RECEIVED = "received"
    #: Every recipient checked; invalid ones marked.
    ADDRESSES_CHECKED = "addresses_checked"
    #: One PDF per valid letter written.
    RENDERED = "rendered"
    #: Hold turned into a debit; order confirmed.
    CAPTURED = "captured"


STAGE_ORDER = (Stage.RECEIVED, Stage.ADDRESSES_CHECKED, Stage.RENDERED, Stage.CAPTURED)


class RecipientStatus(enum.StrEnum):
    #: Waiting for the pipeline.
    PENDING = "pending"
    #: PDF written.
    RENDERED = "rendered"
    PRINTED = "printed"
    #: Handed to the carrier; has tracking number and mailed_at.
    MAILED = "mailed"
    #: Address failed the checks; `invalid_reason` says why.
    INVALID = "invalid"
    CANCELLED = "cancelled"


class DeliveryStatus(enum.StrEnum):
    """One event to one endpoint, across its attempts."""

    #: Created; its first attempt not yet made.
    PENDING = "pending"
    #: An attempt failed; the next is scheduled (`next_attempt_at`).
    RETRYING = "retrying"
    #: A 2xx answer.
    SUCCEEDED = "succeeded"
    #: The schedule ran out, the endpoint answered 410, or it was deactivated.
    FAILED = "failed"


#: A delivery still to be sent.
DELIVERY_OPEN = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class ProductType(enum.StrEnum):
    LETTER = "letter"
    CARD = "card"
    POSTCARD = "postcard"


class PaperType(enum.StrEnum):
    STANDARD = "standard"
    PREMIUM = "premium"


class EnvelopeType(enum.StrEnum):
    STANDARD = "standard"
    NONE = "none"


class Mode(enum.StrEnum):
    """Test keys and live keys never share money or data."""

    TEST = "test"
    LIVE = "live"
