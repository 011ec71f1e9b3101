"""/webhooks, /webhook-logs and /events: endpoints, delivery logs, retry, resend, feed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query

from api import schemas, views
from api.auth import scoped
from api.deps import inkwell, parse_id
from api.paging import log_window_query
from engine.bootstrap import Inkwell
from engine.domain import paging
from engine.domain.scopes import Scope
from engine.services import delivery_logs, event_feed, manual_sends, webhooks
from engine.services.principals import Principal

router = APIRouter(tags=["webhooks"])
MANAGE = Scope.WEBHOOKS_MANAGE


@router.get("/webhooks", summary="Your webhook endpoints")
def list_webhooks(
    who: Principal = Depends(scoped(MANAGE)), app: Inkwell = Depends(inkwell)
) -> dict[str, Any]:
    return {"webhooks": [views.webhook(w) for w in webhooks.list_endpoints(app, who)]}


@router.post(
    "/webhooks",
    status_code=201,
    openapi_extra=schemas.documented_body(schemas.WebhookCreate),
    summary="Register an endpoint; its signing secret is shown only in this answer",
)
def create_webhook(
    body: dict[str, Any] = Body(..., include_in_schema=False),
    who: Principal = Depends(scoped(MANAGE)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    endpoint, secret = webhooks.create_endpoint(app, who, body)
    return {
        "webhook": {**views.webhook(endpoint), "secret": secret},
        "message": "Webhook created. Save the secret — it will not be shown again.",
    }


@router.get("/webhooks/{webhook_id}", summary="One webhook endpoint")
def get_webhook(
    webhook_id: str, who: Principal = Depends(scoped(MANAGE)), app: Inkwell = Depends(inkwell)
) -> dict[str, Any]:
    return {
        "webhook": views.webhook(webhooks.get_endpoint(app, who, parse_id(webhook_id, "webhook")))
    }


@router.put(
    "/webhooks/{webhook_id}",
    openapi_extra=schemas.documented_body(schemas.WebhookUpdate),
    summary="Change url, events or is_active",
)
def update_webhook(
    webhook_id: str,
    body: dict[str, Any] = Body(..., include_in_schema=False),
    who: Principal = Depends(scoped(MANAGE)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    endpoint = webhooks.update_endpoint(app, who, parse_id(webhook_id, "webhook"), body)
    return {"webhook": views.webhook(endpoint)}


@router.delete("/webhooks/{webhook_id}", summary="Deactivate an endpoint")
def delete_webhook(
    webhook_id: str, who: Principal = Depends(scoped(MANAGE)), app: Inkwell = Depends(inkwell)
) -> dict[str, Any]:
    endpoint = webhooks.deactivate(app, who, parse_id(webhook_id, "webhook"))
    return {
        "message": "Webhook deactivated.",
        "webhook": {"id": str(endpoint.id), "is_active": endpoint.is_active},
    }


@router.post("/webhooks/{webhook_id}/rotate-secret", summary="New secret; old signs 24 h more")
def rotate_secret(
    webhook_id: str, who: Principal = Depends(scoped(MANAGE)), app: Inkwell = Depends(inkwell)
) -> dict[str, Any]:
    endpoint, secret = webhooks.rotate_secret(app, who, parse_id(webhook_id, "webhook"))
    return {
        "webhook": {**views.webhook(endpoint), "secret": secret},
        "previous_secret_expires_at": views.iso(endpoint.previous_secret_expires_at),
        "message": (
            "Secret rotated. Both secrets sign deliveries until the old one expires."
            if endpoint.previous_secret_expires_at is not None
            else "Secret rotated. The old secret could not be opened, so only the new one signs."
        ),
    }


@router.post("/webhooks/{webhook_id}/reactivate", summary="Turn back on and replay failures")
def reactivate(
    webhook_id: str,
    replay: bool = Query(True, description="Re-send failed deliveries of the last 72 hours"),
    who: Principal = Depends(scoped(MANAGE)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    endpoint, count = webhooks.reactivate(app, who, parse_id(webhook_id, "webhook"), replay=replay)
    return {
        "webhook": views.webhook(endpoint),
        "replayed_deliveries": count,
        "message": f"Webhook reactivated; {count} failed deliveries queued again.",
    }


@router.get("/webhooks/{webhook_id}/deliveries", summary="Deliveries to one endpoint")
def endpoint_deliveries(
    webhook_id: str,
    status: str | None = Query(None),
    event: str | None = Query(None),
    window: paging.Window = Depends(log_window_query),
    who: Principal = Depends(scoped(MANAGE)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    found = delivery_logs.list_deliveries(
        app,
        who,
        endpoint_id=parse_id(webhook_id, "webhook"),
        status=status,
        event=event,
        window=window,
    )
    return views.delivery_page(found)


@router.post(
    "/webhooks/resend",
    status_code=201,
    openapi_extra=schemas.documented_body(schemas.WebhookResend),
    summary="Send an order's event again to every matching endpoint",
)
def resend(
    body: dict[str, Any] = Body(..., include_in_schema=False),
    who: Principal = Depends(scoped(MANAGE)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    rows = manual_sends.resend(app, who, order_id=body.get("order_id"), event=body.get("event"))
    return {
        "deliveries": [views.delivery(d, []) for d in rows],
        "message": f"{len(rows)} new deliver{'y' if len(rows) == 1 else 'ies'} queued.",
    }


@router.get("/webhook-logs", summary="Delivery logs, filterable by status and event")
def webhook_logs(
    status: str | None = Query(None),
    event: str | None = Query(None),
    webhook_id: str | None = Query(None),
    order_id: str | None = Query(None),
    window: paging.Window = Depends(log_window_query),
    who: Principal = Depends(scoped(MANAGE)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    found = delivery_logs.list_deliveries(
        app,
        who,
        endpoint_id=parse_id(webhook_id, "webhook") if webhook_id else None,
        order_id=parse_id(order_id, "order") if order_id else None,
        status=status,
        event=event,
        window=window,
    )
    return views.delivery_page(found)


@router.get("/webhook-logs/{log_id}", summary="One delivery with every attempt")
def webhook_log(
    log_id: str, who: Principal = Depends(scoped(MANAGE)), app: Inkwell = Depends(inkwell)
) -> dict[str, Any]:
    delivery, attempts = delivery_logs.get_delivery(app, who, parse_id(log_id, "webhook log"))
    return {"delivery": views.delivery(delivery, attempts)}


@router.post("/webhook-logs/{log_id}/retry", summary="Send one failed delivery again")
def retry_log(
    log_id: str, who: Principal = Depends(scoped(MANAGE)), app: Inkwell = Depends(inkwell)
) -> dict[str, Any]:
    delivery = manual_sends.retry(app, who, parse_id(log_id, "webhook log"))
    return {"delivery": views.delivery(delivery, []), "message": "Delivery queued again."}


@router.get("/events", summary="Your events, oldest first, after a cursor")
def list_events(
    after: str | None = Query(None, description="The id of the last event you have"),
    limit: int = Query(100),
    type: str | None = Query(None),
    order_id: str | None = Query(None),
    who: Principal = Depends(scoped(Scope.ORDERS_READ)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    page = event_feed.list_events(
        app,
        who,
        after=after,
        limit=limit,
        type=type,
        order_id=parse_id(order_id, "order") if order_id else None,
    )
    return {
        "events": [views.event(e) for e in page.events],
        "has_more": page.has_more,
        "next_after": str(page.events[-1].id) if page.events else after,
    }
