"""The FastAPI application: routers, error shapes, body limit, and the process's Inkwell."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from api import errors, links, schemas
from api.limits import BodyLimit
from api.routes import account, keys, orders, webhooks
from engine.adapters import log_redaction
from engine.bootstrap import Inkwell, bootstrap
from engine.settings import Settings

log = logging.getLogger("inkwell.api")
PREFIX = "/api/v1/partner"


def create_app(
    app: Inkwell | None = None,
    settings: Settings | None = None,
    *,
    background: bool | None = None,
) -> FastAPI:
    """The HTTP app around an Inkwell (built from settings when not given).

    With `background` (the default when the app builds its own Inkwell) the process also
    publishes its outbox to the broker; in embedded mode (no REDIS_URL) it runs the workers
    and the scheduler too.
    """
    inkwell = app or bootstrap(settings)
    run_background = app is None if background is None else background

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log_redaction.install()  # uvicorn has set up its handlers by now
        anyio.to_thread.current_default_thread_limiter().total_tokens = inkwell.settings.web_threads
        stop = _start_background(inkwell) if run_background else None
        try:
            yield
        finally:
            if stop is not None:
                stop()
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
    for router in (orders.router, account.router, keys.router, webhooks.router):
        api.include_router(router, prefix=PREFIX)

    @api.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    original = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = links.add_links(
                errors.document(schemas.add_to_openapi(original()))
            )
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    api.add_middleware(BodyLimit, max_bytes=inkwell.settings.max_body_bytes)
    return api


def _start_background(app: Inkwell) -> Callable[[], None]:
    if app.settings.redis_url:
        from workers import runtime

        runtime.install(app)
        return runtime.reset
    from engine.adapters import migrate
    from workers.embedded import Embedded

    if app.settings.database_url is None:
        migrate.upgrade(app.settings.effective_database_url)
    embedded = Embedded(app).start()
    return embedded.stop
