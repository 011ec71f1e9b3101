"""The event vocabulary is named once, and every place that accepts a name reads it."""

from __future__ import annotations

import json
import re

import pytest

from api import schemas
from engine.domain import event_types
from engine.domain.event_types import EventType
from engine.services import events, webhooks

#: The catalogue as DESIGN.md section 2 and references 000/001 give it, in that order.
CATALOGUE = (
    "order.created",
    "order.confirmed",
    "order.paid",
    "order.in_production",
    "order.completed",
    "letter.mailed",
    "order.shipped",
    "order.delivered",
    "order.cancelled",
    "order.failed",
)


def test_the_enum_is_the_catalogue_in_its_order() -> None:
    # Given the enum
    # When its values are read in declaration order
    # Then they are the documented names, once each, in the order messages list them
    assert tuple(t.value for t in EventType) == CATALOGUE
    assert event_types.NAMES == CATALOGUE
    assert event_types.listed() == ", ".join(CATALOGUE)


def test_a_member_is_its_wire_name() -> None:
    # Given a member
    member = EventType.ORDER_IN_PRODUCTION
    # When it is compared, formatted or serialised
    # Then it is the string partners see
    assert member == "order.in_production"
    assert f"{member}" == "order.in_production"
    assert json.dumps({"event": member}) == '{"event": "order.in_production"}'


@pytest.mark.parametrize("value", [None, 1, ["order.created"], "", "order.Created", "*", "order"])
def test_is_event_type_refuses_anything_else(value: object) -> None:
    # Given something that is not an event name (not even a string, maybe)
    # When it is asked about
    # Then it is refused, without raising
    assert not event_types.is_event_type(value)


def test_every_event_type_is_a_valid_subscription_and_nothing_else_is() -> None:
    # Given the webhook API's subscription check
    # When it is given each event type, the wildcard, and some near misses
    accepted = [t for t in EventType if webhooks._check_events([t.value])[1] is None]
    refused = [
        v
        for v in ("order.paid.", "order", "letter.created", "ORDER.CREATED", "**")
        if webhooks._check_events([v])[1] is not None
    ]
    # Then it accepts exactly the enum's members plus `*`
    assert accepted == list(EventType)
    assert webhooks._check_events([event_types.WILDCARD]) == (["*"], None)
    assert refused == ["order.paid.", "order", "letter.created", "ORDER.CREATED", "**"]


def test_a_refused_subscription_lists_every_event_type() -> None:
    # Given an unknown event name
    # When it is refused
    _, error = webhooks._check_events(["order.lost"])
    # Then the message names every type there is, and the wildcard
    assert error == (
        f"unknown event type(s) order.lost; valid: {', '.join(CATALOGUE)}, or * for all"
    )


def test_the_documented_body_follows_the_enum() -> None:
    # Given the OpenAPI description of WebhookCreate.events
    field = schemas.WebhookCreate.model_fields["events"]
    # Then it says exactly what the enum says
    assert set(events.ACCEPTED) == {EventType.ORDER_CREATED, EventType.ORDER_CONFIRMED}
    assert field.default == [event_types.WILDCARD]
    assert re.findall(r"[a-z_]+\.[a-z_]+", field.description or "") == list(CATALOGUE)
