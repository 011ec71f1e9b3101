"""Data builders and small readers shared by the tests: principals, keys, orders (through
the services or over HTTP), events, job contexts and ledger checks. Fixtures live in the
conftest.py files; these are plain functions on an Inkwell, a client or a database URL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.domain.scopes import ALL_SCOPES
from engine.domain.statuses import Mode
from engine.services import events, jobs, keys, orders, principals, wallet
from tests.conftest import TenantHandle, order_body


def bearer(key: str) -> dict[str, str]:
    """Auth headers for a full API key."""
    return {"Authorization": f"Bearer {key}"}


def principal(app: Inkwell, t: TenantHandle) -> principals.Principal:
    """The tenant's principal, as its (first) key authenticates."""
    return principals.authenticate(app, f"Bearer {t.key}")


def extra_key(
    app: Inkwell,
    tenant_id: uuid.UUID,
    *,
    scopes: Iterable[str] = ALL_SCOPES,
    mode: Mode = Mode.TEST,
    name: str = "Extra key",
    expires_at: datetime | None = None,
) -> tuple[uuid.UUID, dict[str, str]]:
    """A further key for the tenant, written straight to the database: (id, auth headers)."""
    with app.uow() as uow:
        row, raw = keys.insert_key(
            uow.session,
            tenant_id=tenant_id,
            mode=mode,
            name=name,
            scopes=list(scopes),
            expires_at=expires_at,
            now=app.clock(),
        )
        uow.commit()
    return row.id, bearer(raw)


def create_order(app: Inkwell, t: TenantHandle, body: dict[str, object] | None = None) -> uuid.UUID:
    """An order of one recipient (or `body`) accepted through the service; its id."""
    return orders.create_order(app, principal(app, t), body or order_body(1)).order.id


def place_order(client: httpx.Client, headers: dict[str, str], n: int = 1) -> dict[str, Any]:
    """POST an order of `n` recipients; the created order as the API shows it."""
    r = client.post("/orders", json=order_body(n), headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json()["order"])


def load_order(app: Inkwell, order_id: uuid.UUID) -> tables.Order:
    with app.uow() as uow:
        order = uow.session.get(tables.Order, order_id)
        assert order is not None
        return order


def record_event(app: Inkwell, order_id: uuid.UUID, type_: str, key: str) -> uuid.UUID:
    """Record an event of the order as the pipeline would (not yet fanned out); its id."""
    with app.uow() as uow:
        order = uow.session.get(tables.Order, order_id)
        event_id = events.record(uow.session, order=order, type=type_, key=key, now=app.clock())
        uow.commit()
    assert event_id is not None
    return event_id


def job_context(actor: str, order_id: uuid.UUID, *, attempt: int = 1) -> jobs.JobContext:
    """What the actor wrapper builds for one delivery of a message."""
    return jobs.JobContext(
        actor_name=actor,
        queue_name="render" if actor == "render_order" else "pipeline",
        message_id=f"msg-{uuid.uuid4().hex[:12]}",
        attempt=attempt,
        max_attempts=4,
        args={"order_id": str(order_id)},
    )


def assert_ledger_ok(app: Inkwell) -> None:
    """Every wallet's balance and held amounts match its ledger entries."""
    with app.uow() as uow:
        checks = wallet.check_ledger(uow.session)
    assert checks and all(c.ok for c in checks), checks


def intake_counts(pg_url: str, tenant_id: object) -> tuple[int, int, int]:
    """(orders, held cents in the test wallet, hold entries) of the tenant, read in one
    statement straight from the database."""
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM orders WHERE tenant_id = %(t)s),"
            " (SELECT held_cents FROM wallets WHERE tenant_id = %(t)s AND mode = 'test'),"
            " (SELECT count(*) FROM ledger_entries WHERE tenant_id = %(t)s AND kind = 'hold')",
            {"t": tenant_id},
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def events_of_type(app: Inkwell, order_id: uuid.UUID, type_: str) -> list[tables.Event]:
    """The order's events of one type."""
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(tables.Event).where(
                    tables.Event.order_id == order_id, tables.Event.type == type_
                )
            )
        )


def outbox_rows(app: Inkwell, actor: str, **args: object) -> list[tables.OutboxMessage]:
    """The outbox messages for `actor` whose arguments include `args`, oldest first."""
    o = tables.OutboxMessage
    where = [o.actor_name == actor]
    for name, value in args.items():
        where.append(o.args[name].as_string() == str(value))
    with app.uow() as uow:
        return list(uow.session.scalars(sa.select(o).where(*where).order_by(o.created_at)))
