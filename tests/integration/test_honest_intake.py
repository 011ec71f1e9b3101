"""Under load the answer and the outcome agree: 201 and the order exists, or 503
service_busy with Retry-After and no order exists and nothing was held."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from engine.bootstrap import Inkwell, bootstrap
from tests.conftest import MakeInkwell, MakeTenant, make_settings, order_body, serve, tenant_factory
from tests.factories import intake_counts


@pytest.fixture
def short_app(make_inkwell: MakeInkwell) -> Inkwell:
    return make_inkwell(intake_deadline_s=1.0)


@pytest.fixture
def short_client(short_app: Inkwell) -> Iterator[httpx.Client]:
    with serve(short_app) as c:
        yield c


def test_a_locked_wallet_answers_busy_and_keeps_nothing(
    short_app: Inkwell, short_client: httpx.Client, pg_url: str
) -> None:
    # Given a tenant whose wallet row another transaction holds locked
    tenant = tenant_factory(short_app)()
    blocker = psycopg.connect(pg_url)
    blocker.execute(
        "SELECT id FROM wallets WHERE tenant_id = %s FOR UPDATE", (tenant.id,)
    ).fetchall()
    try:
        # When an order is placed with a 1 s intake deadline
        response = short_client.post("/orders", json=order_body(1), headers=tenant.headers)
    finally:
        # Then (after the lock is gone) the answer is a retryable busy ...
        blocker.rollback()
        blocker.close()
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "service_busy"
    assert response.headers["Retry-After"].isdigit()
    # ... and nothing of the order exists, now or after the writer could have gone on
    threading.Event().wait(1.5)
    assert intake_counts(pg_url, tenant.id) == (0, 0, 0)
    # And the same request afterwards is taken
    again = short_client.post("/orders", json=order_body(1), headers=tenant.headers)
    assert again.status_code == 201, again.text
    assert intake_counts(pg_url, tenant.id)[0] == 1


def test_racing_deadlines_never_answer_busy_for_a_kept_order(pg_url: str, tmp_path: Path) -> None:
    # Given a deadline so short that many orders race it
    app = bootstrap(make_settings(pg_url, tmp_path, intake_deadline_s=0.05))
    try:
        make: MakeTenant = tenant_factory(app)
        tenant = make(credits_cents=10_000_000)
        codes: list[int] = []
        ids: list[str] = []
        with serve(app) as client:

            def place(client: httpx.Client = client) -> None:
                for _ in range(8):
                    r = client.post("/orders", json=order_body(1), headers=tenant.headers)
                    codes.append(r.status_code)
                    if r.status_code == 201:
                        ids.append(r.json()["order"]["id"])
                    else:
                        assert r.status_code == 503, r.text
                        assert r.json()["error"] == "service_busy"

            # When 8 clients place orders at once
            threads = [threading.Thread(target=place) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        # Then exactly the 201 answers exist, each with its hold, and no others
        threading.Event().wait(0.5)
        orders, held, holds = intake_counts(pg_url, tenant.id)
        assert len(codes) == 64
        assert orders == len(ids) == codes.count(201)
        assert holds == len(ids)
        with psycopg.connect(pg_url) as conn:
            kept = {str(r[0]) for r in conn.execute("SELECT id FROM orders").fetchall()}
            cost = conn.execute("SELECT coalesce(sum(total_cents), 0) FROM orders").fetchone()
        assert kept == set(ids)
        assert cost and held == cost[0]
    finally:
        app.close()
