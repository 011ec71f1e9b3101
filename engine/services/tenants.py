"""Tenants: created by an operator with the `inkwell` command, never over the partner API."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from engine import errors
from engine.adapters import tables
from engine.domain.pricing import PriceList
from engine.domain.scopes import ALL_SCOPES
from engine.domain.statuses import Mode
from engine.services import keys, wallet
from engine.services.context import Context


@dataclass(frozen=True)
class NewTenant:
    tenant_id: uuid.UUID
    api_key: str
    key_id: uuid.UUID
    mode: Mode


def create_tenant(
    app: Context,
    *,
    name: str,
    credits_cents: int = 0,
    mode: Mode = Mode.TEST,
    cancel_window_s: int | None = None,
) -> NewTenant:
    """A tenant with both wallets, `credits_cents` in the `mode` wallet, and a full-scope key."""
    if not name.strip():
        raise errors.ValidationFailed([errors.FieldProblem("name", "name is required")])
    if credits_cents < 0:
        raise errors.ValidationFailed(
            [errors.FieldProblem("credits", "credits must not be negative")]
        )
    now = app.clock()
    with app.uow() as uow:
        tenant = tables.Tenant(
            id=uuid.uuid4(), name=name.strip(), cancel_window_s=cancel_window_s, created_at=now
        )
        uow.session.add(tenant)
        uow.session.flush()
        wallet.ensure_wallets(uow.session, tenant.id, now)
        if credits_cents:
            wallet.credit(
                uow.session,
                tenant_id=tenant.id,
                mode=mode.value,
                amount_cents=credits_cents,
                key=f"tenant:{tenant.id}:opening:{mode.value}",
                description="Opening credit",
                now=now,
            )
        key, raw = keys.insert_key(
            uow.session,
            tenant_id=tenant.id,
            mode=mode,
            name="Default key",
            scopes=list(ALL_SCOPES),
            expires_at=None,
            now=now,
        )
        uow.commit()
    return NewTenant(tenant_id=tenant.id, api_key=raw, key_id=key.id, mode=mode)


def add_credits(
    app: Context, *, tenant_id: uuid.UUID, mode: Mode, amount_cents: int, note: str = ""
) -> wallet.Balance:
    """An operator's manual credit; each call is its own ledger entry."""
    with app.uow() as uow:
        if uow.session.get(tables.Tenant, tenant_id) is None:
            raise errors.NotFound("tenant", tenant_id)
        _, balance = wallet.credit(
            uow.session,
            tenant_id=tenant_id,
            mode=mode.value,
            amount_cents=amount_cents,
            key=f"manual:{uuid.uuid4()}",
            description=note or "Credit added by an operator",
            now=app.clock(),
        )
        uow.commit()
    return balance


def get_tenant(session: sa.orm.Session, tenant_id: uuid.UUID) -> tables.Tenant:
    tenant = session.get(tables.Tenant, tenant_id)
    if tenant is None:
        raise errors.NotFound("tenant", tenant_id)
    return tenant


_cache_lock = threading.Lock()


def cached_tenant(app: Context, tenant_id: uuid.UUID) -> tables.Tenant:
    """The tenant row, reused for TENANT_CACHE_S per process (read-only: it is detached).

    Raises:
        NotFound: no such tenant.
    """
    ttl = app.settings.tenant_cache_s
    now = time.monotonic()
    with _cache_lock:
        cache = app.caches.tenants
        hit = cache.get(tenant_id)
    if hit is not None and now - hit[0] <= ttl:
        return hit[1]
    with app.uow() as uow:
        tenant = get_tenant(uow.session, tenant_id)
    if ttl > 0:
        with _cache_lock:
            if len(cache) > 10_000:
                cache.clear()
            cache[tenant_id] = (now, tenant)
    return tenant


def price_list(tenant: tables.Tenant) -> PriceList:
    return PriceList(
        per_letter_cost_cents=tenant.per_letter_cost_cents,
        per_card_cost_cents=tenant.per_card_cost_cents,
        per_postcard_cost_cents=tenant.per_postcard_cost_cents,
        per_envelope_cost_cents=tenant.per_envelope_cost_cents,
        premium_paper_surcharge_cents=tenant.premium_paper_surcharge_cents,
    )
