"""Webhook endpoints: register, read, update, deactivate, rotate the secret, reactivate."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import secretbox, tables, url_guard
from engine.domain import event_types, signing
from engine.domain.statuses import DeliveryStatus
from engine.services import fanout, outbox, webhook_secrets
from engine.services.context import Context
from engine.services.principals import Principal

#: How long a rotated-out secret keeps signing beside the new one.
ROTATION_OVERLAP = timedelta(hours=24)
#: Reactivating an endpoint replays its failed deliveries from this far back.
REPLAY_WINDOW = timedelta(hours=72)
#: Active endpoints a tenant may have per mode.
MAX_ENDPOINTS = 20


def _check_events(value: object) -> tuple[list[str] | None, str | None]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return None, "events must be a non-empty list of event types"
    unknown = [v for v in value if not event_types.is_event_type(v) and v != event_types.WILDCARD]
    if unknown:
        return None, (
            f"unknown event type(s) {', '.join(unknown)}; "
            f"valid: {event_types.listed()}, or {event_types.WILDCARD} for all"
        )
    return sorted(set(value)), None


def _check_url(app: Context, value: object) -> str | None:
    if not isinstance(value, str):
        return "url is required"
    return url_guard.check_url(
        value,
        allow_private=app.settings.webhook_allow_private_targets,
        resolve=url_guard.system_resolver(app.settings.webhook_dns_timeout_s),
    )


def _owned(
    session: Session, principal: Principal, endpoint_id: uuid.UUID
) -> tables.WebhookEndpoint:
    endpoint = session.scalar(
        sa.select(tables.WebhookEndpoint).where(
            tables.WebhookEndpoint.id == endpoint_id,
            principal.owns(tables.WebhookEndpoint),
        )
    )
    if endpoint is None:
        raise errors.NotFound("webhook", endpoint_id)
    return endpoint


def _check_cap(session: Session, principal: Principal) -> None:
    """Refuse one more active endpoint over the cap. Locks the tenant's row first so
    concurrent creates and reactivations count one after another (SQLite serialises
    writes anyway)."""
    session.execute(
        sa.select(tables.Tenant.id).where(tables.Tenant.id == principal.tenant_id).with_for_update()
    )
    count = session.scalar(
        sa.select(sa.func.count()).where(
            principal.owns(tables.WebhookEndpoint),
            tables.WebhookEndpoint.is_active.is_(True),
        )
    )
    if (count or 0) >= MAX_ENDPOINTS:
        raise errors.EndpointLimitReached(MAX_ENDPOINTS)


def create_endpoint(
    app: Context, principal: Principal, body: Mapping[str, object]
) -> tuple[tables.WebhookEndpoint, str]:
    """Register an endpoint; returns it with its secret, which is shown only now.

    Raises:
        ValidationFailed: url missing, not http(s), or resolving to a private address;
            events missing or unknown; unknown fields.
        EndpointLimitReached: the tenant already has MAX_ENDPOINTS active endpoints.
    """
    problems = [
        errors.FieldProblem(k, f"{k} is not a known field")
        for k in sorted(set(body) - {"url", "events"})
    ]
    if error := _check_url(app, body.get("url")):
        problems.append(errors.FieldProblem("url", error))
    events, error = _check_events(body.get("events", [event_types.WILDCARD]))
    if error:
        problems.append(errors.FieldProblem("events", error))
    if problems:
        raise errors.ValidationFailed(problems)
    now = app.clock()
    secret = signing.new_secret()
    with app.uow() as uow:
        _check_cap(uow.session, principal)
        endpoint = tables.WebhookEndpoint(
            id=uuid.uuid4(),
            tenant_id=principal.tenant_id,
            mode=principal.mode.value,
            url=str(body["url"]).strip(),
            events=events,
            secret=webhook_secrets.seal(app.secret_keys, secret),
            is_active=True,
            consecutive_failures=0,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(endpoint)
        uow.commit()
    return endpoint, secret


def list_endpoints(app: Context, principal: Principal) -> list[tables.WebhookEndpoint]:
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(tables.WebhookEndpoint)
                .where(
                    principal.owns(tables.WebhookEndpoint),
                )
                .order_by(tables.WebhookEndpoint.created_at, tables.WebhookEndpoint.id)
            )
        )


def get_endpoint(
    app: Context, principal: Principal, endpoint_id: uuid.UUID
) -> tables.WebhookEndpoint:
    with app.uow() as uow:
        return _owned(uow.session, principal, endpoint_id)


def update_endpoint(
    app: Context, principal: Principal, endpoint_id: uuid.UUID, body: Mapping[str, object]
) -> tables.WebhookEndpoint:
    """Change url, events and/or is_active.

    Raises:
        NotFound: not the caller's endpoint.
        ValidationFailed: nothing to change, or a bad url/events/is_active.
        EndpointLimitReached: turning it on would pass MAX_ENDPOINTS active endpoints.
    """
    problems = [
        errors.FieldProblem(k, f"{k} is not a known field")
        for k in sorted(set(body) - {"url", "events", "is_active"})
    ]
    if not set(body) & {"url", "events", "is_active"}:
        problems.append(errors.FieldProblem("body", "give at least one of url, events, is_active"))
    if "url" in body and (error := _check_url(app, body["url"])):
        problems.append(errors.FieldProblem("url", error))
    events = None
    if "events" in body:
        events, error = _check_events(body["events"])
        if error:
            problems.append(errors.FieldProblem("events", error))
    if "is_active" in body and not isinstance(body["is_active"], bool):
        problems.append(errors.FieldProblem("is_active", "is_active must be true or false"))
    if problems:
        raise errors.ValidationFailed(problems)
    now = app.clock()
    with app.uow() as uow:
        if body.get("is_active") is True:
            _check_cap_to_activate(uow.session, principal, endpoint_id)
        endpoint = _owned(uow.session, principal, endpoint_id)
        if "url" in body:
            endpoint.url = str(body["url"]).strip()
        if events is not None:
            endpoint.events = events
        if "is_active" in body:
            _set_active(endpoint, bool(body["is_active"]), "deactivated by the partner", now)
        endpoint.updated_at = now
        uow.commit()
    return endpoint


def _check_cap_to_activate(session: Session, principal: Principal, endpoint_id: uuid.UUID) -> None:
    """As `_check_cap`, unless the endpoint is active already (then nothing is added)."""
    if not _owned(session, principal, endpoint_id).is_active:
        _check_cap(session, principal)


def _set_active(endpoint: tables.WebhookEndpoint, active: bool, reason: str, now: datetime) -> None:
    if active and not endpoint.is_active:
        endpoint.is_active = True
        endpoint.consecutive_failures = 0
        endpoint.deactivated_reason = None
    elif not active and endpoint.is_active:
        endpoint.is_active = False
        endpoint.deactivated_reason = reason


def deactivate(
    app: Context, principal: Principal, endpoint_id: uuid.UUID
) -> tables.WebhookEndpoint:
    """DELETE /webhooks/{id}: stop sending; the endpoint and its logs stay readable."""
    now = app.clock()
    with app.uow() as uow:
        endpoint = _owned(uow.session, principal, endpoint_id)
        _set_active(endpoint, False, "deactivated by the partner", now)
        endpoint.updated_at = now
        uow.commit()
    return endpoint


def rotate_secret(
    app: Context, principal: Principal, endpoint_id: uuid.UUID
) -> tuple[tables.WebhookEndpoint, str]:
    """A new secret; the old one keeps signing beside it for 24 hours, unless no key we
    hold opens it (SECRET_KEY changed): then it is dropped, so the new one signs at once."""
    now = app.clock()
    secret = signing.new_secret()
    with app.uow() as uow:
        endpoint = _owned(uow.session, principal, endpoint_id)
        try:
            webhook_secrets.reveal(app.secret_keys, endpoint.secret)
        except secretbox.CannotOpen:
            endpoint.previous_secret = None
            endpoint.previous_secret_expires_at = None
        else:
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
        endpoint.secret = webhook_secrets.seal(app.secret_keys, secret)
        endpoint.updated_at = now
        uow.commit()
    return endpoint, secret


def reactivate(
    app: Context, principal: Principal, endpoint_id: uuid.UUID, *, replay: bool = True
) -> tuple[tables.WebhookEndpoint, int]:
    """Turn an endpoint back on and (by default) replay what it missed in the last 72
    hours: its failed deliveries again, and the events it subscribes to that were fanned
    out while it was off. Returns the endpoint and how many deliveries were queued."""
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        _check_cap_to_activate(session, principal, endpoint_id)
        endpoint = _owned(session, principal, endpoint_id)
        _set_active(endpoint, True, "", now)
        endpoint.updated_at = now
        replayed = 0
        if replay:
            d = tables.WebhookDelivery
            failed = session.scalars(
                sa.select(d).where(
                    d.endpoint_id == endpoint.id,
                    d.status == DeliveryStatus.FAILED.value,
                    d.created_at >= now - REPLAY_WINDOW,
                )
            ).all()
            for delivery in failed:
                requeue(session, delivery, now)
                replayed += 1
            replayed += fanout.catch_up(session, endpoint, now - REPLAY_WINDOW, now)
        uow.commit()
    return endpoint, replayed


def requeue(session: Session, delivery: tables.WebhookDelivery, now: datetime) -> None:
    """Send a finished delivery once more, now (a failure there fails it again)."""
    delivery.status = DeliveryStatus.RETRYING.value
    delivery.next_attempt_at = now
    delivery.lease_until = None
    delivery.updated_at = now
    outbox.enqueue(
        session, "deliver_webhook", tenant_id=delivery.tenant_id, delivery_id=delivery.id, now=now
    )


def signing_secrets(endpoint: Any, now: datetime, keys: secretbox.Keyring) -> list[str]:
    """The current secret, then the previous one while its overlap lasts (`endpoint` is
    a WebhookEndpoint or a row with its secret columns), decrypted with `keys`.

    Raises:
        secretbox.CannotOpen: a secret sealed under a key `keys` does not hold.
    """
    out = [webhook_secrets.reveal(keys, endpoint.secret)]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        out.append(webhook_secrets.reveal(keys, endpoint.previous_secret))
    return out
