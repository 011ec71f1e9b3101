"""What an API key may do."""

from __future__ import annotations

import enum


class Scope(enum.StrEnum):
    ORDERS_CREATE = "orders.create"
    ORDERS_READ = "orders.read"
    BALANCE_READ = "balance.read"
    FONTS_READ = "fonts.read"
    KEYS_MANAGE = "keys.manage"
    WEBHOOKS_MANAGE = "webhooks.manage"
    UPLOADS_CREATE = "uploads.create"
    CREDITS_TOPUP = "credits.topup"


ALL_SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)
