"""API keys: create, list and revoke a tenant's keys (authenticating one is `principals`)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import errors
from engine.adapters import tables
from engine.domain import apikeys, text
from engine.domain.scopes import ALL_SCOPES
from engine.domain.statuses import Mode
from engine.services import principals
from engine.services.context import Context

# The name, not the module: used in signatures here, and imported from this module by
# callers written before `principals` existed (`from engine.services.principals import Principal`).
from engine.services.principals import Principal


def insert_key(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    mode: Mode,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    now: datetime,
) -> tuple[tables.ApiKey, str]:
    """Add a key row; returns it with the full key, which is never stored."""
    raw = apikeys.generate(mode)
    row = tables.ApiKey(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        mode=mode.value,
        name=name,
        key_hash=apikeys.hash_key(raw),
        key_prefix=apikeys.display_prefix(raw),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        created_at=now,
    )
    session.add(row)
    return row, raw


def create_key(
    app: Context,
    principal: Principal,
    *,
    name: object,
    scopes: object,
    expires_at: datetime | None,
) -> tuple[tables.ApiKey, str]:
    """Create a key in the caller's mode with at most the caller's own scopes.

    Raises:
        ValidationFailed: name missing or too long, unknown scope, expiry in the past, or
            an expiry later than the calling key's own (or none when it has one).
        MissingScope: a requested scope the calling key does not itself carry.
    """
    now = app.clock()
    problems: list[errors.FieldProblem] = []
    if not isinstance(name, str) or not name.strip():
        problems.append(errors.FieldProblem("name", "name is required"))
    elif len(name) > 100:
        problems.append(errors.FieldProblem("name", "name must be at most 100 characters"))
    elif problem := text.unstorable(name):
        problems.append(errors.FieldProblem("name", f"name {problem}"))
    requested: list[str] = sorted(principal.scopes) if scopes is None else []
    if scopes is not None:
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            problems.append(errors.FieldProblem("permissions", "must be a list of scopes"))
        else:
            unknown = [s for s in scopes if s not in ALL_SCOPES]
            if unknown:
                problems.append(
                    errors.FieldProblem(
                        "permissions",
                        f"unknown scope(s) {', '.join(unknown)}; "
                        f"valid scopes are {', '.join(ALL_SCOPES)}",
                    )
                )
            elif not scopes:
                problems.append(errors.FieldProblem("permissions", "give at least one scope"))
            requested = list(scopes)
    if expires_at is not None and expires_at <= now:
        problems.append(errors.FieldProblem("expires_at", "expires_at must be in the future"))
    if problems:
        raise errors.ValidationFailed(problems)
    for scope in requested:
        if scope not in principal.scopes:
            raise errors.MissingScope(scope)
    assert isinstance(name, str)
    with app.uow() as uow:
        own_expiry = uow.session.scalar(
            sa.select(tables.ApiKey.expires_at).where(tables.ApiKey.id == principal.key_id)
        )
        if own_expiry is not None and (expires_at is None or expires_at > own_expiry):
            raise errors.ValidationFailed(
                [
                    errors.FieldProblem(
                        "expires_at",
                        f"expires_at must be at or before {own_expiry.isoformat()}, "
                        "when the key making this request expires",
                    )
                ]
            )
        row, raw = insert_key(
            uow.session,
            tenant_id=principal.tenant_id,
            mode=principal.mode,
            name=name.strip(),
            scopes=requested,
            expires_at=expires_at,
            now=now,
        )
        uow.commit()
    # A lookup of this key while it did not exist must not refuse it now.
    principals.forget_digest(app, row.key_hash)
    return row, raw


def list_keys(app: Context, principal: Principal) -> list[tables.ApiKey]:
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(tables.ApiKey)
                .where(
                    principal.owns(tables.ApiKey),
                )
                .order_by(tables.ApiKey.created_at, tables.ApiKey.id)
            )
        )


def revoke_key(app: Context, principal: Principal, key_id: uuid.UUID) -> tables.ApiKey:
    """Revoke one of the tenant's keys; revoking twice is harmless.

    Raises:
        NotFound: no such key for this tenant and mode.
        SelfRevoke: it is the key making the request.
    """
    if key_id == principal.key_id:
        raise errors.SelfRevoke(key_id)
    now = app.clock()
    with app.uow() as uow:
        key = uow.session.scalar(
            sa.select(tables.ApiKey).where(
                tables.ApiKey.id == key_id,
                principal.owns(tables.ApiKey),
            )
        )
        if key is None:
            raise errors.NotFound("API key", key_id)
        if key.revoked_at is None:
            key.revoked_at = now
            uow.commit()
    principals.forget_key(app, key_id)
    return key


def is_active(key: tables.ApiKey, now: datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)
