"""/keys: list, create (shown once), revoke."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends

from api import schemas, views
from api.auth import scoped
from api.deps import inkwell, parse_id
from engine import errors
from engine.bootstrap import Inkwell
from engine.domain.scopes import Scope
from engine.services import keys
from engine.services.principals import Principal

router = APIRouter(tags=["keys"])


@router.get("/keys", summary="Your API keys (prefix only)")
def list_keys(
    who: Principal = Depends(scoped(Scope.KEYS_MANAGE)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    now = app.clock()
    return {"keys": [views.key(k, active=keys.is_active(k, now)) for k in keys.list_keys(app, who)]}


def _expiry(value: object) -> datetime | None:
    if value is None:
        return None
    problem = errors.FieldProblem(
        "expires_at", "expires_at must be an ISO 8601 date-time with a time zone"
    )
    if not isinstance(value, str):
        raise errors.ValidationFailed([problem])
    try:
        parsed = datetime.fromisoformat(value)
        # An offset can push year 1 or 9999 out of range once stored as UTC.
        parsed.astimezone(UTC)
    except (ValueError, OverflowError) as e:
        raise errors.ValidationFailed([problem]) from e
    if parsed.tzinfo is None:
        raise errors.ValidationFailed([problem])
    return parsed


@router.post(
    "/keys",
    status_code=201,
    openapi_extra=schemas.documented_body(schemas.KeyCreate),
    summary="Create an API key; the full key is shown only in this answer",
)
def create_key(
    body: dict[str, Any] = Body(..., include_in_schema=False),
    who: Principal = Depends(scoped(Scope.KEYS_MANAGE)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    unknown = sorted(set(body) - {"name", "permissions", "scopes", "expires_at"})
    if unknown:
        raise errors.ValidationFailed(
            [errors.FieldProblem(f, f"{f} is not a known field") for f in unknown]
        )
    row, raw = keys.create_key(
        app,
        who,
        name=body.get("name"),
        scopes=body.get("permissions", body.get("scopes")),
        expires_at=_expiry(body.get("expires_at")),
    )
    return {
        "key": {**views.key(row, active=True), "full_key": raw},
        "message": "API key created. Save the full key — it will not be shown again.",
    }


@router.delete("/keys/{key_id}", summary="Revoke an API key")
def revoke_key(
    key_id: str,
    who: Principal = Depends(scoped(Scope.KEYS_MANAGE)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    row = keys.revoke_key(app, who, parse_id(key_id, "API key"))
    return {"message": "API key revoked.", "key": {"id": str(row.id), "is_active": False}}
