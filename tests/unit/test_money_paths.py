"""One way to move money: only the wallet service touches the wallet and ledger tables."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: A mention of the ledger or wallet tables (the ORM classes or the raw table names).
MONEY = re.compile(r"\b(LedgerEntry|ledger_entries|Wallet\b|table_of\(tables\.Wallet\))")
#: The wallet service: reads and moves, holds, and the ledger entry with its move.
WALLET_SERVICE = {
    "engine/services/wallet.py",
    "engine/services/holds.py",
    "engine/services/ledger.py",
}


def test_only_the_wallet_service_names_the_money_tables() -> None:
    # Given every module of the application outside the table definitions
    offenders = []
    for package in ("engine", "api", "workers", "cli"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in WALLET_SERVICE or rel.startswith("engine/adapters/tables/"):
                continue
            # When it is searched for the money tables
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if MONEY.search(line):
                    offenders.append(f"{rel}:{number}: {line.strip()}")
    # Then none names them: holds, captures, releases and top-ups go through the wallet
    assert offenders == []
