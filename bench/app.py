"""The API under benchmark: the real app plus one bare route for the baseline.

`/bench/bare-orders` reads the same JSON body and runs the same order validation as
`POST /api/v1/partner/orders` (`engine.domain.orderform.check_order`, which the real route
runs on its body), then answers 201 without authenticating or touching the database: the
cost of the HTTP layer and validation alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Body, FastAPI

from api.app import create_app
from engine.domain import orderform


def make() -> FastAPI:
    app = create_app()

    @app.post("/bench/bare-orders", status_code=201)
    def bare(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        now = datetime.now(UTC)
        problems = orderform.check_order(body, now=now)
        if problems:
            return {"error": "validation_error", "details": [p.as_dict() for p in problems]}
        return {"order": {"status": "pending", "created_at": now.isoformat()}, "balance_cents": 0}

    return app
