"""/orders: create, list, read, cancel."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body, Depends, Query

from api import schemas, views
from api.auth import scoped
from api.deps import inkwell
from api.paging import page_query
from engine import errors
from engine.bootstrap import Inkwell
from engine.domain import paging
from engine.domain.scopes import Scope
from engine.domain.timestamps import iso
from engine.services import orders
from engine.services.principals import Principal

router = APIRouter(tags=["orders"])


def _order_id(value: str) -> uuid.UUID:
    """A path order id; 001 answers a malformed one 400 `invalid_order_id`, not 404."""
    try:
        return uuid.UUID(value)
    except ValueError as e:
        raise errors.InvalidOrderId(value) from e


@router.post(
    "/orders",
    status_code=201,
    openapi_extra=schemas.documented_body(schemas.OrderCreate),
    summary="Create an order; its cost is held from the wallet",
)
def create_order(
    body: dict[str, Any] = Body(..., include_in_schema=False),
    who: Principal = Depends(scoped(Scope.ORDERS_CREATE)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    created = orders.create_order(app, who, body)
    return {
        "order": views.order_summary(created.order, len(created.recipients)),
        "balance_cents": created.balance.available_cents,
        "transaction_id": str(created.transaction_id),
    }


@router.get("/orders", summary="List orders, newest first")
def list_orders(
    window: paging.Page = Depends(page_query),
    status: str | None = Query(None, description="One status, or several comma-separated"),
    sort: str = Query("created_at"),
    order: str = Query("desc"),
    who: Principal = Depends(scoped(Scope.ORDERS_READ)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    found = orders.list_orders(app, who, window=window, status=status, sort=sort, order=order)
    return {
        "orders": [views.order_item(o) for o in found.orders],
        "pagination": found.pagination,
    }


@router.get("/orders/{order_id}", summary="One order with its recipients")
def get_order(
    order_id: str,
    who: Principal = Depends(scoped(Scope.ORDERS_READ)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    order, recipients = orders.get_order(app, who, _order_id(order_id))
    return {"order": views.order_detail(order, recipients)}


@router.post("/orders/{order_id}/cancel", summary="Cancel a pending order and release its hold")
def cancel_order(
    order_id: str,
    who: Principal = Depends(scoped(Scope.ORDERS_CREATE)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    done = orders.cancel_order(app, who, _order_id(order_id))
    return {
        "order": {
            "id": str(done.order.id),
            "status": done.order.status,
            "cancelled_at": iso(done.order.cancelled_at),
        },
        "balance_cents": done.balance.available_cents,
        "message": "Order cancelled successfully. Credits have been refunded.",
    }
