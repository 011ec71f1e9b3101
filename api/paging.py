"""The query parameters of paged lists, read once: `page`/`limit` or `limit`/`offset`.

The engine checks the bounds (engine/domain/paging.py); here they are only parsed, so a
value that is not a whole number answers 400 like any other query parameter.
"""

from __future__ import annotations

from fastapi import Query

from engine.domain import paging
from engine.services import delivery_logs


def page_query(page: int = Query(1), limit: int = Query(25)) -> paging.Page:
    """`?page=&limit=` (GET /orders)."""
    return paging.Page(page, limit)


def log_window_query(
    limit: int = Query(delivery_logs.DEFAULT_LOG_LIMIT, description="At most 100"),
    offset: int = Query(0),
) -> paging.Window:
    """`?limit=&offset=` of the delivery logs (001's defaults)."""
    return paging.Window(limit, offset)
