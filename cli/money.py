"""`inkwell credits add` and `inkwell ledger check`: put money in, prove the books add up."""

from __future__ import annotations

import argparse
import uuid

from cli import runtime
from engine.domain.statuses import Mode
from engine.services import tenants, wallet


def cmd_credits_add(args: argparse.Namespace) -> int:
    app = runtime.open_app()
    try:
        balance = tenants.add_credits(
            app,
            tenant_id=args.tenant,
            mode=Mode(args.mode),
            amount_cents=args.cents,
            note=args.note or "",
        )
    finally:
        app.close()
    print(f"available {balance.available_cents} cents (held {balance.held_cents})")
    return 0


def cmd_ledger_check(args: argparse.Namespace) -> int:
    app = runtime.open_app()
    try:
        with app.uow() as uow:
            checks = wallet.check_ledger(uow.session)
    finally:
        app.close()
    bad = [c for c in checks if not c.ok]
    for c in bad:
        print(
            f"MISMATCH wallet {c.wallet_id}: row {c.balance_cents}/{c.held_cents}, "
            f"ledger {c.ledger_balance_cents}/{c.ledger_held_cents}"
        )
    print(f"{len(checks)} wallets checked, {len(bad)} mismatched")
    return 1 if bad else 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    credits = sub.add_parser("credits").add_subparsers(dest="credits_cmd", required=True)
    ca = credits.add_parser("add", help="credit a tenant's wallet")
    ca.add_argument("--tenant", type=uuid.UUID, required=True)
    ca.add_argument("--cents", type=int, required=True)
    ca.add_argument("--mode", choices=[m.value for m in Mode], default="test")
    ca.add_argument("--note")
    ca.set_defaults(func=cmd_credits_add)

    ledger = sub.add_parser("ledger").add_subparsers(dest="ledger_cmd", required=True)
    lc = ledger.add_parser("check", help="prove every wallet equals the sum of its entries")
    lc.set_defaults(func=cmd_ledger_check)
