"""The database itself refuses what must never happen to money (STYLE.md "State and money"):
CHECK constraints on wallets, a unique key per ledger movement, positive amounts, and an
append-only ledger. Each bad statement is written raw, bypassing the wallet service, and runs
on Postgres and on SQLite. Plus the wallet service's own refusal and its ledger proof."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from engine import errors
from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import holds, tenants, wallet

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def new_tenant(app: Inkwell, credits_cents: int = 1000) -> uuid.UUID:
    return tenants.create_tenant(app, name="Ledger Co", credits_cents=credits_cents).tenant_id


def wallet_of(app: Inkwell, tenant_id: uuid.UUID) -> tables.Wallet:
    with app.uow() as uow:
        return wallet.get_wallet(uow.session, tenant_id, "test")


def only_entry(app: Inkwell, tenant_id: uuid.UUID) -> tables.LedgerEntry:
    with app.uow() as uow:
        entries = list(
            uow.session.scalars(
                sa.select(tables.LedgerEntry).where(tables.LedgerEntry.tenant_id == tenant_id)
            )
        )
    assert len(entries) == 1, entries
    return entries[0]


def entry_values(w: tables.Wallet, key: str, amount_cents: int) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "wallet_id": w.id,
        "tenant_id": w.tenant_id,
        "order_id": None,
        "kind": "adjustment",
        "key": key,
        "amount_cents": amount_cents,
        "balance_delta_cents": amount_cents,
        "held_delta_cents": 0,
        "description": "raw insert",
        "created_at": NOW,
    }


def new_order(app: Inkwell, tenant_id: uuid.UUID, total_cents: int) -> uuid.UUID:
    """A bare pending order row, so ledger entries can point at it."""
    order_id = uuid.uuid4()
    with app.uow() as uow:
        uow.session.add(
            tables.Order(
                id=order_id,
                tenant_id=tenant_id,
                mode="test",
                status="pending",
                stage="received",
                stage_changed_at=NOW,
                message_body="Hello",
                product_type="letter",
                paper_type="standard",
                envelope_type="standard",
                letter_count=1,
                total_cents=total_cents,
                cost_breakdown={},
                cancellable_until=NOW + timedelta(minutes=5),
                created_at=NOW,
                updated_at=NOW,
            )
        )
        uow.commit()
    return order_id


# --- the database refuses ------------------------------------------------------------------


def test_raw_update_overdrawing_available_balance_is_refused(any_inkwell: Inkwell) -> None:
    # Given a wallet holding $10.00, nothing held
    w = wallet_of(any_inkwell, new_tenant(any_inkwell, 1000))

    # When a raw UPDATE holds more than the balance (available would be -1 cent)
    # Then the database refuses it
    with pytest.raises(IntegrityError), any_inkwell.engine.begin() as conn:
        conn.execute(
            sa.update(tables.Wallet).where(tables.Wallet.id == w.id).values(held_cents=1001)
        )

    # And when a raw UPDATE lowers the balance below what is held, it is refused too
    with any_inkwell.engine.begin() as conn:
        conn.execute(
            sa.update(tables.Wallet).where(tables.Wallet.id == w.id).values(held_cents=600)
        )
    with pytest.raises(IntegrityError), any_inkwell.engine.begin() as conn:
        conn.execute(
            sa.update(tables.Wallet).where(tables.Wallet.id == w.id).values(balance_cents=599)
        )

    after = wallet_of(any_inkwell, w.tenant_id)
    assert (after.balance_cents, after.held_cents) == (1000, 600)


def test_raw_update_making_held_negative_is_refused(any_inkwell: Inkwell) -> None:
    # Given a wallet holding $10.00
    w = wallet_of(any_inkwell, new_tenant(any_inkwell, 1000))

    # When a raw UPDATE sets a negative hold (which would *raise* the available balance)
    # Then the database refuses it
    with pytest.raises(IntegrityError), any_inkwell.engine.begin() as conn:
        conn.execute(sa.update(tables.Wallet).where(tables.Wallet.id == w.id).values(held_cents=-1))

    after = wallet_of(any_inkwell, w.tenant_id)
    assert (after.balance_cents, after.held_cents) == (1000, 0)


def test_second_ledger_entry_with_an_existing_key_is_refused(any_inkwell: Inkwell) -> None:
    # Given a tenant whose opening credit is one ledger entry
    tenant_id = new_tenant(any_inkwell, 1000)
    w = wallet_of(any_inkwell, tenant_id)
    opening = only_entry(any_inkwell, tenant_id)

    # When a raw INSERT reuses that entry's key
    # Then the database refuses it and the ledger keeps its single entry
    with pytest.raises(IntegrityError), any_inkwell.engine.begin() as conn:
        conn.execute(sa.insert(tables.LedgerEntry).values(entry_values(w, opening.key, 1000)))
    assert only_entry(any_inkwell, tenant_id).id == opening.id


def test_wallet_credit_with_a_used_key_is_refused(any_inkwell: Inkwell) -> None:
    # Given a top-up already recorded under a key
    tenant_id = new_tenant(any_inkwell, 0)
    with any_inkwell.uow() as uow:
        wallet.credit(
            uow.session,
            tenant_id=tenant_id,
            mode="test",
            amount_cents=500,
            key="stripe:evt_1",
            description="top-up",
            now=NOW,
        )
        uow.commit()

    # When the same top-up is replayed through the wallet service
    # Then the unique key refuses it and the whole transaction rolls back
    with pytest.raises(IntegrityError), any_inkwell.uow() as uow:
        wallet.credit(
            uow.session,
            tenant_id=tenant_id,
            mode="test",
            amount_cents=500,
            key="stripe:evt_1",
            description="top-up",
            now=NOW,
        )
        uow.commit()
    w = wallet_of(any_inkwell, tenant_id)
    assert w.balance_cents == 500
    with any_inkwell.uow() as uow:
        assert all(c.ok for c in wallet.check_ledger(uow.session, w.id))


def test_update_of_a_ledger_entry_is_refused(any_inkwell: Inkwell) -> None:
    # Given a ledger entry of $10.00
    tenant_id = new_tenant(any_inkwell, 1000)
    entry = only_entry(any_inkwell, tenant_id)

    # When a raw UPDATE rewrites its amount
    # Then the append-only trigger refuses it
    with pytest.raises(DBAPIError, match="append-only"), any_inkwell.engine.begin() as conn:
        conn.execute(
            sa.update(tables.LedgerEntry)
            .where(tables.LedgerEntry.id == entry.id)
            .values(amount_cents=1, balance_delta_cents=1)
        )
    after = only_entry(any_inkwell, tenant_id)
    assert (after.amount_cents, after.balance_delta_cents) == (1000, 1000)


def test_delete_of_a_ledger_entry_is_refused(any_inkwell: Inkwell) -> None:
    # Given a ledger entry of $10.00
    tenant_id = new_tenant(any_inkwell, 1000)
    entry = only_entry(any_inkwell, tenant_id)

    # When a raw DELETE removes it
    # Then the append-only trigger refuses it and the entry is still there
    with pytest.raises(DBAPIError, match="append-only"), any_inkwell.engine.begin() as conn:
        conn.execute(sa.delete(tables.LedgerEntry).where(tables.LedgerEntry.id == entry.id))
    assert only_entry(any_inkwell, tenant_id).id == entry.id


@pytest.mark.parametrize("amount_cents", [0, -100])
def test_ledger_entry_without_a_positive_amount_is_refused(
    any_inkwell: Inkwell, amount_cents: int
) -> None:
    # Given a tenant with one ledger entry
    tenant_id = new_tenant(any_inkwell, 1000)
    w = wallet_of(any_inkwell, tenant_id)
    opening = only_entry(any_inkwell, tenant_id)

    # When a raw INSERT records a movement of zero or negative cents
    # Then the database refuses it
    with pytest.raises(IntegrityError), any_inkwell.engine.begin() as conn:
        conn.execute(
            sa.insert(tables.LedgerEntry).values(
                entry_values(w, f"adjust:{uuid.uuid4()}", amount_cents)
            )
        )
    assert only_entry(any_inkwell, tenant_id).id == opening.id


# --- the wallet service ---------------------------------------------------------------------


def test_hold_beyond_available_raises_insufficient_credits(any_inkwell: Inkwell) -> None:
    # Given a wallet of $10.00 with $3.00 already held
    tenant_id = new_tenant(any_inkwell, 1000)
    first = new_order(any_inkwell, tenant_id, 300)
    second = new_order(any_inkwell, tenant_id, 800)
    with any_inkwell.uow() as uow:
        holds.place_hold(
            uow.session,
            tenant_id=tenant_id,
            mode="test",
            order_id=first,
            amount_cents=300,
            now=NOW,
        )
        uow.commit()

    # When an $8.00 hold is asked for
    with pytest.raises(errors.InsufficientCredits) as raised, any_inkwell.uow() as uow:
        holds.place_hold(
            uow.session,
            tenant_id=tenant_id,
            mode="test",
            order_id=second,
            amount_cents=800,
            now=NOW,
        )
        uow.commit()

    # Then it is refused with the available balance, the cost and the shortfall,
    # and the wallet is untouched
    assert raised.value.balance_cents == 700
    assert raised.value.cost_cents == 800
    assert raised.value.shortfall_cents == 100
    w = wallet_of(any_inkwell, tenant_id)
    assert (w.balance_cents, w.held_cents) == (1000, 300)
    with any_inkwell.uow() as uow:
        hold_entries = uow.session.scalar(
            sa.select(sa.func.count())
            .select_from(tables.LedgerEntry)
            .where(tables.LedgerEntry.order_id == second)
        )
    assert hold_entries == 0


def test_check_ledger_ok_after_holds_releases_captures_and_credits(
    any_inkwell: Inkwell,
) -> None:
    # Given a wallet of $10.00 and three orders
    tenant_id = new_tenant(any_inkwell, 1000)
    a = new_order(any_inkwell, tenant_id, 298)
    b = new_order(any_inkwell, tenant_id, 400)
    c = new_order(any_inkwell, tenant_id, 250)
    common = {"tenant_id": tenant_id, "mode": "test", "now": NOW}

    # When money moves every way it can: holds, a partial and a full release,
    # a capture and a top-up
    with any_inkwell.uow() as uow:
        s = uow.session
        holds.place_hold(s, order_id=a, amount_cents=298, **common)
        holds.place_hold(s, order_id=b, amount_cents=400, **common)
        holds.place_hold(s, order_id=c, amount_cents=250, **common)
        wallet.release_hold(s, order_id=a, amount_cents=298, reason="cancelled", **common)
        wallet.release_hold(s, order_id=b, amount_cents=100, reason="invalid", **common)
        wallet.capture(s, order_id=b, amount_cents=300, **common)
        wallet.credit(s, amount_cents=700, key="topup:1", description="top-up", **common)
        uow.commit()

    # Then the wallet row is the running total of its entries
    w = wallet_of(any_inkwell, tenant_id)
    assert (w.balance_cents, w.held_cents) == (1000 - 300 + 700, 250)
    with any_inkwell.uow() as uow:
        checks = wallet.check_ledger(uow.session)
    mine = [ch for ch in checks if ch.wallet_id == w.id]
    assert len(mine) == 1
    assert mine[0].ok
    assert (mine[0].ledger_balance_cents, mine[0].ledger_held_cents) == (1400, 250)
    assert all(ch.ok for ch in checks), checks


def test_check_ledger_reports_a_wallet_changed_behind_the_ledgers_back(
    any_inkwell: Inkwell,
) -> None:
    # Given a wallet of $10.00 that agrees with its ledger
    tenant_id = new_tenant(any_inkwell, 1000)
    w = wallet_of(any_inkwell, tenant_id)
    with any_inkwell.uow() as uow:
        assert [ch.ok for ch in wallet.check_ledger(uow.session, w.id)] == [True]

    # When someone adds $1.00 with a raw UPDATE and no ledger entry
    with any_inkwell.engine.begin() as conn:
        conn.execute(
            sa.update(tables.Wallet)
            .where(tables.Wallet.id == w.id)
            .values(balance_cents=tables.Wallet.balance_cents + 100)
        )

    # Then the check names that wallet as a mismatch, with both sides
    with any_inkwell.uow() as uow:
        checks = wallet.check_ledger(uow.session, w.id)
    assert len(checks) == 1
    assert not checks[0].ok
    assert (checks[0].balance_cents, checks[0].ledger_balance_cents) == (1100, 1000)
