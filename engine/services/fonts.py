"""The handwriting font catalogue a tenant can choose from."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.adapters import tables
from engine.services.context import Caches, Context
from engine.services.principals import Principal


@dataclass(frozen=True)
class Catalogue:
    fonts: list[tables.Font]
    default_font_id: uuid.UUID | None


def visible_fonts(session: Session, tenant_id: uuid.UUID) -> list[tables.Font]:
    f = tables.Font
    return list(
        session.scalars(
            sa.select(f)
            .where(sa.or_(f.tenant_id.is_(None), f.tenant_id == tenant_id))
            .order_by(f.tenant_id.is_not(None), f.name)
        )
    )


#: The catalogue's default font changes only with a migration; re-read it this often.
DEFAULT_TTL_S = 60.0


def default_font_id(session: Session, tenant: tables.Tenant, caches: Caches) -> uuid.UUID | None:
    """The tenant's default font, else the catalogue's (kept in `caches` for a while)."""
    if tenant.default_font_id is not None:
        return tenant.default_font_id
    now = time.monotonic()
    cached = caches.default_font
    if cached is None or cached[0] < now:
        found = session.scalar(
            sa.select(tables.Font.id).where(
                tables.Font.tenant_id.is_(None), tables.Font.is_default.is_(True)
            )
        )
        cached = caches.default_font = (now + DEFAULT_TTL_S, found)
    return cached[1]


def resolve_for(app: Context, tenant: tables.Tenant, style: object) -> uuid.UUID | str | None:
    """As `resolve`, opening a session only when the answer is not already cached."""
    blank = style is None or (isinstance(style, str) and not style.strip())
    if blank and tenant.default_font_id is not None:
        return tenant.default_font_id
    cached = app.caches.default_font
    if blank and cached is not None and cached[0] >= time.monotonic():
        return cached[1]
    with app.uow() as uow:
        return resolve(uow.session, tenant, style, app.caches)


def resolve(
    session: Session, tenant: tables.Tenant, style: object, caches: Caches
) -> uuid.UUID | str | None:
    """The font id for a `handwriting_style` (id, slug or name); a str is an error message."""
    if style is None or (isinstance(style, str) and not style.strip()):
        return default_font_id(session, tenant, caches)
    if not isinstance(style, str):
        return "handwriting_style must be a font id or name"
    wanted = style.strip().lower()
    for font in visible_fonts(session, tenant.id):
        if wanted in (str(font.id), font.slug.lower(), font.name.lower()):
            return font.id
    return f'Unknown handwriting_style "{style}". Choose a font id or name from the catalogue'


def catalogue(app: Context, principal: Principal) -> Catalogue:
    with app.uow() as uow:
        tenant = uow.session.get(tables.Tenant, principal.tenant_id)
        assert tenant is not None
        return Catalogue(
            fonts=visible_fonts(uow.session, tenant.id),
            default_font_id=default_font_id(uow.session, tenant, app.caches),
        )
