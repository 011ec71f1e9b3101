"""The schema, as SQLAlchemy 2 models. Only ever changed together with a migration.

One package, one `Base` and one MetaData (`base.py`); the tables live by area (tenants and
keys, money, orders, jobs, webhooks) and every name is re-exported here, so callers write
`from engine.adapters import tables` and `tables.Order`, and Alembic sees every table by
importing this package. Constraints carry explicit names (see `NAMING`) so migrations can
refer to them on every database. Money columns are integer cents; timestamps are aware UTC.
"""

from __future__ import annotations

from engine.adapters.tables.base import NAMING, Base, JSONType, UTCDateTime, table_of, utcnow
from engine.adapters.tables.jobs import JobRun, OutboxMessage
from engine.adapters.tables.money import LEDGER_KINDS, LedgerEntry, Wallet
from engine.adapters.tables.orders import Order, Recipient
from engine.adapters.tables.tenants import ApiKey, Font, Tenant
from engine.adapters.tables.webhooks import (
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookManualSend,
)

__all__ = [
    "LEDGER_KINDS",
    "NAMING",
    "ApiKey",
    "Base",
    "Event",
    "Font",
    "JSONType",
    "JobRun",
    "LedgerEntry",
    "Order",
    "OutboxMessage",
    "Recipient",
    "Tenant",
    "UTCDateTime",
    "Wallet",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookManualSend",
    "table_of",
    "utcnow",
]
