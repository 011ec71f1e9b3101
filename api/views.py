"""How engine rows look on the wire (field names as in the reference API)."""

from __future__ import annotations

from typing import Any

from engine.adapters import tables
from engine.domain import addresses
from engine.domain.statuses import DeliveryStatus
from engine.domain.timestamps import iso
from engine.services import delivery_logs


def order_summary(order: tables.Order, recipient_count: int) -> dict[str, Any]:
    """The `order` block of a create answer."""
    return {
        "id": str(order.id),
        "status": order.status,
        "letter_count": order.letter_count,
        "total_cents": order.total_cents,
        "product_type": order.product_type,
        "paper_type": order.paper_type,
        "envelope_type": order.envelope_type,
        "recipient_count": recipient_count,
        "external_id": order.external_id,
        "metadata": order.order_metadata or {},
        "cost_breakdown": order.cost_breakdown,
        "cancellable_until": iso(order.cancellable_until),
        "send_date": iso(order.send_date),
        "mode": order.mode,
        "created_at": iso(order.created_at),
    }


def order_item(order: tables.Order) -> dict[str, Any]:
    """One row of an order list."""
    return {
        "id": str(order.id),
        "status": order.status,
        "letter_count": order.letter_count,
        "total_cents": order.total_cents,
        "message_body": order.message_body,
        "handwriting_style": str(order.font_id) if order.font_id else None,
        "paper_type": order.paper_type,
        "product_type": order.product_type,
        "envelope_type": order.envelope_type,
        "source": order.source,
        "external_id": order.external_id,
        "metadata": order.order_metadata or {},
        "cancellable_until": iso(order.cancellable_until),
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
    }


def order_detail(order: tables.Order, recipients: list[tables.Recipient]) -> dict[str, Any]:
    return {
        **order_item(order),
        "mailing_option": order.mailing_option,
        "authenticity_preset": order.authenticity_preset,
        "return_address": order.return_address,
        "skip_invalid": order.skip_invalid,
        "cost_breakdown": order.cost_breakdown,
        "send_date": iso(order.send_date),
        "failure_code": order.failure_code,
        "failure_reason": order.failure_reason,
        "mode": order.mode,
        "cancelled_at": iso(order.cancelled_at),
        "confirmed_at": iso(order.confirmed_at),
        "recipients": [recipient(r) for r in recipients],
        "recipient_count": len(recipients),
    }


def recipient(r: tables.Recipient) -> dict[str, Any]:
    return {
        "id": str(r.id),
        **addresses.fields_of(r),
        "custom_fields": r.custom_fields or None,
        "status": r.status,
        "invalid_reason": r.invalid_reason,
        "tracking_number": r.tracking_number,
        "mailed_at": iso(r.mailed_at),
        "created_at": iso(r.created_at),
    }


def key(k: tables.ApiKey, *, active: bool) -> dict[str, Any]:
    return {
        "id": str(k.id),
        "name": k.name,
        "key_prefix": k.key_prefix,
        "mode": k.mode,
        "permissions": list(k.scopes),
        "last_used_at": iso(k.last_used_at),
        "expires_at": iso(k.expires_at),
        "revoked_at": iso(k.revoked_at),
        "is_active": active,
        "created_at": iso(k.created_at),
    }


def webhook(w: tables.WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": str(w.id),
        "url": w.url,
        "events": list(w.events),
        "is_active": w.is_active,
        "failure_count": w.consecutive_failures,
        "deactivated_reason": w.deactivated_reason,
        "last_triggered_at": iso(w.last_triggered_at),
        "previous_secret_expires_at": iso(w.previous_secret_expires_at),
        "created_at": iso(w.created_at),
        "updated_at": iso(w.updated_at),
    }


def attempt(a: tables.WebhookAttempt) -> dict[str, Any]:
    return {
        "number": a.number,
        "attempted_at": iso(a.attempted_at),
        "response_status": a.status_code,
        "success": a.status_code is not None and 200 <= a.status_code < 300,
        "latency_ms": a.latency_ms,
        "response_body": a.response_body,
        "error": a.error,
    }


def delivery(d: tables.WebhookDelivery, attempts: list[tables.WebhookAttempt]) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "webhook_id": str(d.endpoint_id),
        "event_id": str(d.event_id),
        "event_type": d.event_type,
        "status": d.status,
        "success": d.status == DeliveryStatus.SUCCEEDED,
        "attempts": d.attempts,
        "response_status": d.last_status_code,
        "last_error": d.last_error,
        "next_attempt_at": iso(d.next_attempt_at),
        "delivered_at": iso(d.delivered_at),
        "resend_of": str(d.resend_of) if d.resend_of else None,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
        "attempt_log": [attempt(a) for a in attempts],
    }


def delivery_page(found: delivery_logs.DeliveryPage) -> dict[str, Any]:
    return {
        "deliveries": [delivery(d, found.attempts.get(d.id, [])) for d in found.deliveries],
        "pagination": found.pagination,
    }


def event(e: tables.Event) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "event": e.type,
        "timestamp": iso(e.created_at),
        "data": e.data,
    }
