"""/balance and /fonts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from api.auth import scoped
from api.deps import inkwell
from engine.bootstrap import Inkwell
from engine.domain.scopes import Scope
from engine.services import balance, fonts
from engine.services.principals import Principal

router = APIRouter(tags=["account"])


@router.get("/balance", summary="Credit balance, pricing and letters it buys")
def get_balance(
    who: Principal = Depends(scoped(Scope.BALANCE_READ)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    report = balance.read_balance(app, who)
    return {
        "balance_cents": report.balance.available_cents,
        "low_balance_alert_cents": report.low_balance_alert_cents,
        "pricing_model": report.pricing_model,
        "per_letter_cost_cents": report.per_letter_cost_cents,
        "per_envelope_cost_cents": report.per_envelope_cost_cents,
        "estimated_letters_remaining": report.estimated_letters_remaining,
        "held_cents": report.balance.held_cents,
        "ledger_balance_cents": report.balance.balance_cents,
        "mode": who.mode.value,
    }


@router.get("/fonts", summary="Handwriting fonts available to you")
def list_fonts(
    who: Principal = Depends(scoped(Scope.FONTS_READ)),
    app: Inkwell = Depends(inkwell),
) -> dict[str, Any]:
    found = fonts.catalogue(app, who)
    return {
        "fonts": [
            {
                "id": str(f.id),
                "name": f.name,
                "description": f.description,
                "category": f.category,
                "is_default": f.id == found.default_font_id,
                "is_custom": f.tenant_id is not None,
            }
            for f in found.fonts
        ],
        "default_font_id": str(found.default_font_id) if found.default_font_id else None,
        "total": len(found.fonts),
    }
