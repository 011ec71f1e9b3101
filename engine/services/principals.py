"""Who is calling: the `Principal` behind a bearer API key, found through a small
per-process cache of key lookups, and the scope check every endpoint makes.

Creating, listing and revoking keys is `keys`; it tells this module's cache to forget a
key (`forget_key`, `forget_digest`) when one is revoked or created.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine import errors
from engine.adapters import tables
from engine.domain import apikeys
from engine.domain.statuses import Mode
from engine.services.context import Context

#: `last_used_at` is written at most this often per key, so reads stay reads.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, in one mode, through one key with some scopes."""

    tenant_id: uuid.UUID
    mode: Mode
    key_id: uuid.UUID
    scopes: frozenset[str]

    def owns(self, rows: Any) -> sa.ColumnElement[bool]:
        """The tenant-and-mode predicate, said once: the rows of `rows` (a model, an alias
        or a table with `tenant_id` and `mode` columns) this principal may see. Another
        tenant's (or mode's) id is then simply not found: 404, never 403."""
        columns = getattr(rows, "c", rows)
        return sa.and_(columns.tenant_id == self.tenant_id, columns.mode == self.mode.value)


def _auth_error(code: str, message: str, suggestion: str) -> errors.AuthError:
    return errors.AuthError(code, message, suggestion)


def cached_principal(app: Context, authorization: str | None) -> Principal | None:
    """The principal for a recently seen, still valid key, without touching the database."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    cached = _cache_get(app, apikeys.hash_key(token.strip()))
    if cached is None or cached.principal is None:
        return None
    if cached.expires_at is not None and cached.expires_at <= app.clock():
        return None
    return cached.principal


def authenticate(app: Context, authorization: str | None) -> Principal:
    """The principal behind an `Authorization` header, or AuthError saying why not.

    Raises:
        AuthError: code `missing_api_key`, `malformed_api_key`, `invalid_api_key`,
            `revoked_api_key` or `expired_api_key`.
    """
    if not authorization or not authorization.strip():
        raise _auth_error(
            "missing_api_key",
            "No API key was sent.",
            "Send your key as 'Authorization: Bearer ink_test_…' or 'Bearer ink_live_…'.",
        )
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or apikeys.mode_of(token) is None:
        raise _auth_error(
            "malformed_api_key",
            "The Authorization header is not 'Bearer' followed by an Inkwell API key.",
            "Keys look like ink_test_ or ink_live_ followed by 32 letters and digits.",
        )
    now = app.clock()
    digest = apikeys.hash_key(token)
    cached = _cache_get(app, digest)
    if cached is not None:
        if cached.principal is None:
            raise _unknown_key()
        if cached.expires_at is None or cached.expires_at > now:
            return cached.principal
    # A cache entry's age counts from before the read, so it never outlives AUTH_CACHE_S.
    read_at = time.monotonic()
    with app.uow() as uow:
        key = uow.session.scalar(sa.select(tables.ApiKey).where(tables.ApiKey.key_hash == digest))
        if key is None:
            _cache_put(app, digest, _Cached(None, None, read_at))
            raise _unknown_key()
        if key.revoked_at is not None:
            raise _auth_error(
                "revoked_api_key",
                f"This API key was revoked at {key.revoked_at.isoformat()}.",
                "Use another active key, or create a new one.",
            )
        if key.expires_at is not None and key.expires_at <= now:
            raise _auth_error(
                "expired_api_key",
                f"This API key expired at {key.expires_at.isoformat()}.",
                "Create a new key with an active key that has the keys.manage scope.",
            )
        principal = Principal(
            tenant_id=key.tenant_id,
            mode=Mode(key.mode),
            key_id=key.id,
            scopes=frozenset(key.scopes),
        )
        _cache_put(app, digest, _Cached(principal, key.expires_at, read_at))
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            uow.session.execute(
                sa.update(tables.ApiKey).where(tables.ApiKey.id == key.id).values(last_used_at=now)
            )
            uow.commit()
    return principal


def _unknown_key() -> errors.AuthError:
    return _auth_error(
        "invalid_api_key",
        "This API key does not exist.",
        "Check for a typo, or create a new key; keys are shown only once.",
    )


@dataclass(frozen=True)
class _Cached:
    """A key's lookup; `principal` None means the key was unknown (a negative entry)."""

    principal: Principal | None
    expires_at: datetime | None
    #: `time.monotonic()` just before the database read; never refreshed by a use.
    stored: float


#: Most cached lookups per process; the oldest goes first.
CACHE_MAX_ENTRIES = 10_000


_cache_lock = threading.Lock()


def _cache(app: Context) -> dict[str, _Cached]:
    return app.caches.keys


def _cache_get(app: Context, digest: str) -> _Cached | None:
    ttl = app.settings.auth_cache_s
    if ttl <= 0:
        return None
    with _cache_lock:
        entry = _cache(app).get(digest)
    if entry is None or time.monotonic() - entry.stored > ttl:
        return None
    return entry


def _cache_put(app: Context, digest: str, entry: _Cached) -> None:
    if app.settings.auth_cache_s <= 0:
        return
    with _cache_lock:
        cache = _cache(app)
        cache.pop(digest, None)
        while len(cache) >= CACHE_MAX_ENTRIES:
            del cache[next(iter(cache))]
        cache[digest] = entry


def forget_key(app: Context, key_id: uuid.UUID) -> None:
    """Drop every cached lookup of the key `key_id` (it was just revoked)."""
    with _cache_lock:
        cache = _cache(app)
        for digest in [d for d, e in cache.items() if e.principal and e.principal.key_id == key_id]:
            del cache[digest]


def forget_digest(app: Context, digest: str) -> None:
    """Drop the cached lookup of `digest` (a key with that hash was just created)."""
    with _cache_lock:
        _cache(app).pop(digest, None)


def require(principal: Principal, scope: str) -> None:
    """Raise MissingScope unless the principal's key carries `scope`."""
    if scope not in principal.scopes:
        raise errors.MissingScope(scope)
