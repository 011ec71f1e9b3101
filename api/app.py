"""The FastAPI application: routers, error shapes, body limit, and the process's Inkwell."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api import errors, schemas
from api.limits import BodyLimit
from api.routes import account, keys, orders
from engine.bootstrap import Inkwell, bootstrap
from engine.settings import Settings

log = logging.getLogger("inkwell.api")
PREFIX = "/api/v1/partner"


def create_app(app: Inkwell | None = None, settings: Settings | None = None) -> FastAPI:
    """The HTTP app around an Inkwell (built from settings when not given)."""
    inkwell = app or bootstrap(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if app is None:
            inkwell.close()

    api = FastAPI(
        title="Inkwell Partner API",
        version="1.0.0",
        description="Orders for handwritten-style letters, cards and postcards.",
        lifespan=lifespan,
    )
    api.state.inkwell = inkwell
    errors.install(api)
    for router in (orders.router, account.router, keys.router):
        api.include_router(router, prefix=PREFIX)

    @api.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    original = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = schemas.add_to_openapi(original())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    api.add_middleware(BodyLimit, max_bytes=inkwell.settings.max_body_bytes)
    return api
