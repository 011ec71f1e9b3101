"""The `inkwell` console script as an operator runs it: a real subprocess pointed at this
test's Postgres database by DATABASE_URL, its results checked through the real HTTP API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import wallet
from tests.conftest import TEST_SECRET_KEY, order_body
from tests.factories import bearer

INKWELL = Path(sys.executable).with_name("inkwell")

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(pg_url: str, tmp_path: Path) -> Run:
    """Run `inkwell ARGS...` against this test's database; returns the finished process."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env["DATABASE_URL"] = pg_url
    env["SECRET_KEY"] = TEST_SECRET_KEY
    env["STORAGE_DIR"] = str(tmp_path / "storage")

    def _run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(INKWELL), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return _run


def created_tenant(proc: subprocess.CompletedProcess[str]) -> tuple[uuid.UUID, str]:
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    made = json.loads(last)
    assert set(made) == {"tenant_id", "api_key"}, made
    return uuid.UUID(made["tenant_id"]), made["api_key"]


def test_db_upgrade_on_a_migrated_database_succeeds(run: Run, inkwell: Inkwell) -> None:
    # Given this test's database, already at head
    # When the operator runs the migration again
    proc = run("db", "upgrade")

    # Then it succeeds, says where the schema is, and the schema still works
    assert proc.returncode == 0, proc.stderr
    assert "database at head" in proc.stdout
    assert "Traceback" not in proc.stderr
    with inkwell.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.Font)).scalar_one() >= 5


def test_tenant_create_json_gives_a_working_full_scope_test_key(
    run: Run, inkwell: Inkwell, client: httpx.Client
) -> None:
    # Given an empty database served by the API
    # When the operator creates a tenant with $50.00 and asks for JSON
    tenant_id, key = created_tenant(
        run("tenant", "create", "--name", "Acme", "--credits", "5000", "--json")
    )

    # Then the key is a test key, the balance shows the credit, and every scope works
    assert key.startswith("ink_test_")
    r = client.get("/balance", headers=bearer(key))
    assert r.status_code == 200, r.text
    assert r.json()["balance_cents"] == 5000
    r = client.post("/orders", json=order_body(1), headers=bearer(key))
    assert r.status_code == 201, r.text
    assert client.get("/orders", headers=bearer(key)).status_code == 200
    assert client.get("/fonts", headers=bearer(key)).status_code == 200
    assert client.get("/keys", headers=bearer(key)).status_code == 200
    with inkwell.uow() as uow:
        assert uow.session.get(tables.Tenant, tenant_id) is not None


def test_tenant_create_live_mode_credits_the_live_wallet(
    run: Run, inkwell: Inkwell, client: httpx.Client
) -> None:
    # Given an empty database served by the API
    # When the operator creates a live-mode tenant with $50.00
    proc = run(
        "tenant", "create", "--name", "Live Co", "--credits", "5000", "--mode", "live", "--json"
    )
    tenant_id, key = created_tenant(proc)

    # Then the key is a live key, its balance is the credit, and the test wallet got nothing
    assert key.startswith("ink_live_")
    r = client.get("/balance", headers=bearer(key))
    assert r.status_code == 200, r.text
    assert r.json()["balance_cents"] == 5000
    with inkwell.uow() as uow:
        live = wallet.get_wallet(uow.session, tenant_id, "live")
        test = wallet.get_wallet(uow.session, tenant_id, "test")
    assert live.balance_cents == 5000
    assert test.balance_cents == 0


def test_key_create_with_one_scope_is_limited_to_it(run: Run, client: httpx.Client) -> None:
    # Given a tenant made by the command
    tenant_id, _ = created_tenant(
        run("tenant", "create", "--name", "Acme", "--credits", "5000", "--json")
    )

    # When the operator makes a read-only key for it
    proc = run("key", "create", "--tenant", str(tenant_id), "--scopes", "orders.read", "--json")

    # Then the key reads orders but may not create one
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout.strip().splitlines()[-1])
    key = made["api_key"]
    assert key.startswith("ink_test_")
    assert client.get("/orders", headers=bearer(key)).status_code == 200
    r = client.post("/orders", json=order_body(1), headers=bearer(key))
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "forbidden"
    assert "orders.create" in r.json()["message"]


def test_credits_add_then_ledger_check(run: Run, inkwell: Inkwell, client: httpx.Client) -> None:
    # Given a tenant with $50.00
    tenant_id, key = created_tenant(
        run("tenant", "create", "--name", "Acme", "--credits", "5000", "--json")
    )

    # When the operator adds $7.00
    proc = run("credits", "add", "--tenant", str(tenant_id), "--cents", "700")

    # Then the balance rises by exactly that
    assert proc.returncode == 0, proc.stderr
    assert "5700" in proc.stdout
    assert client.get("/balance", headers=bearer(key)).json()["balance_cents"] == 5700

    # And the ledger check proves every wallet equals its entries
    check = run("ledger", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 mismatched" in check.stdout

    # And once a wallet is changed behind the ledger's back, the check fails and names it
    with inkwell.engine.begin() as conn:
        conn.execute(
            sa.update(tables.Wallet)
            .where(tables.Wallet.tenant_id == tenant_id, tables.Wallet.mode == "test")
            .values(balance_cents=tables.Wallet.balance_cents + 1)
        )
    check = run("ledger", "check")
    assert check.returncode != 0
    assert "MISMATCH" in check.stdout
    assert "1 mismatched" in check.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("credits", "add", "--cents", "700"),
        ("key", "create", "--scopes", "orders.read", "--json"),
    ],
    ids=["credits-add", "key-create"],
)
def test_unknown_tenant_is_an_error_without_traceback(run: Run, args: tuple[str, ...]) -> None:
    # Given a tenant id that does not exist
    missing = uuid.uuid4()

    # When the operator names it
    proc = run(*args, "--tenant", str(missing))

    # Then the command fails with a readable error, not a traceback
    assert proc.returncode != 0
    assert "error" in proc.stderr.lower()
    assert str(missing) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "api_key" not in proc.stdout
