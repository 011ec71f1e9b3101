"""Request-scoped access to the process's Inkwell."""

from __future__ import annotations

import uuid

from fastapi import Request

from engine import errors
from engine.bootstrap import Inkwell


async def inkwell(request: Request) -> Inkwell:
    app: Inkwell = request.app.state.inkwell
    return app


def parse_id(value: str, resource: str) -> uuid.UUID:
    """A path id; anything that is not a UUID cannot exist, so it answers 404."""
    try:
        return uuid.UUID(value)
    except ValueError as e:
        raise errors.NotFound(resource, value) from e
