"""The events partners can subscribe to, named once (DESIGN.md section 2).

The values are the wire names: webhook bodies, `X-Premier-Event`, the events table and
subscription lists all carry them, so a member compares and serialises as its string.
"""

from __future__ import annotations

import enum


class EventType(enum.StrEnum):
    """Every event name a subscription, a log filter or a resend accepts: 000's, DESIGN.md
    section 2's and all of 001's. The order here is the order error messages list them."""

    #: The order is accepted (recorded with ORDER_CONFIRMED, in the intake transaction).
    ORDER_CREATED = "order.created"
    #: Its credits are held (000: "order created and credits deducted").
    ORDER_CONFIRMED = "order.confirmed"
    #: 001's name for a paid hosted checkout; nothing records it yet.
    ORDER_PAID = "order.paid"
    #: The cancel window closed and the hold was captured.
    ORDER_IN_PRODUCTION = "order.in_production"
    #: Every letter written and checked (printed).
    ORDER_COMPLETED = "order.completed"
    #: One letter handed to the carrier, with its tracking number.
    LETTER_MAILED = "letter.mailed"
    #: Every letter mailed.
    ORDER_SHIPPED = "order.shipped"
    #: The carrier reports the order delivered.
    ORDER_DELIVERED = "order.delivered"
    #: Cancelled by the partner; hold voided.
    ORDER_CANCELLED = "order.cancelled"
    #: The pipeline gave up; hold voided.
    ORDER_FAILED = "order.failed"


#: In a subscription list, every event type, present and future.
WILDCARD = "*"

#: The wire names, for membership tests on values that may not be strings at all
#: (`value in EventType` raises TypeError for a non-member on Python 3.11).
NAMES: tuple[str, ...] = tuple(t.value for t in EventType)


def is_event_type(value: object) -> bool:
    """Whether `value` is the name of an event type."""
    return isinstance(value, str) and value in NAMES


def listed() -> str:
    """Every event name, comma-separated, for messages that say what is accepted."""
    return ", ".join(NAMES)
