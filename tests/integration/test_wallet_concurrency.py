"""Money can never be overdrawn, whatever the concurrency (real Postgres, real HTTP)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import wallet
from tests.conftest import MakeTenant, order_body


def test_fifty_concurrent_orders_against_a_wallet_for_twenty(
    inkwell: Inkwell, client: httpx.Client, make_tenant: MakeTenant
) -> None:
    # Given a wallet that affords exactly 20 one-letter orders (298 cents each)
    t = make_tenant(credits_cents=20 * 298)
    url = str(client.base_url).rstrip("/") + "/orders"

    # When 50 clients order at the same moment
    def place(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as c:
            return c.post(url, json=order_body(1), headers=t.headers)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(place, range(50)))

    # Then exactly 20 are accepted and 30 refused for credit, each refusal explained
    assert Counter(r.status_code for r in answers) == {201: 20, 402: 30}
    for r in answers:
        if r.status_code == 402:
            body = r.json()
            assert body["error"] == "insufficient_credits"
            assert body["cost_cents"] == 298
            assert body["shortfall_cents"] == 298 - body["balance_cents"]
            assert body["balance_cents"] >= 0

    # And the wallet is exactly spent, never below zero, and equals its ledger
    with inkwell.uow() as uow:
        row = uow.session.scalar(
            sa.select(tables.Wallet).where(
                tables.Wallet.tenant_id == t.id, tables.Wallet.mode == "test"
            )
        )
        assert row is not None
        assert row.balance_cents - row.held_cents == 0
        assert row.held_cents == 20 * 298
        (check,) = wallet.check_ledger(uow.session, row.id)
        assert check.ok, check
        holds = uow.session.scalar(
            sa.select(sa.func.count())
            .select_from(tables.LedgerEntry)
            .where(tables.LedgerEntry.wallet_id == row.id, tables.LedgerEntry.kind == "hold")
        )
        assert holds == 20
