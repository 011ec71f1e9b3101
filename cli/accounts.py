"""`inkwell tenant create` and `inkwell key create`: who may call the API."""

from __future__ import annotations

import argparse
import json
import sys
import uuid

from cli import runtime
from engine.domain.scopes import ALL_SCOPES
from engine.domain.statuses import Mode
from engine.services import keys, tenants


def cmd_tenant_create(args: argparse.Namespace) -> int:
    app = runtime.open_app()
    try:
        made = tenants.create_tenant(
            app,
            name=args.name,
            credits_cents=args.credits,
            mode=Mode(args.mode),
            cancel_window_s=args.cancel_window_s,
        )
    finally:
        app.close()
    if args.json:
        print(json.dumps({"tenant_id": str(made.tenant_id), "api_key": made.api_key}))
    else:
        print(f"tenant  {made.tenant_id}")
        print(f"api key {made.api_key}  (shown once; {made.mode.value} mode, every scope)")
    return 0


def cmd_key_create(args: argparse.Namespace) -> int:
    scopes = args.scopes.split(",") if args.scopes else list(ALL_SCOPES)
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        print(f"unknown scope(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    app = runtime.open_app()
    try:
        with app.uow() as uow:
            tenants.get_tenant(uow.session, args.tenant)
            row, raw = keys.insert_key(
                uow.session,
                tenant_id=args.tenant,
                mode=Mode(args.mode),
                name=args.name,
                scopes=scopes,
                expires_at=None,
                now=app.clock(),
            )
            uow.commit()
    finally:
        app.close()
    if args.json:
        print(json.dumps({"key_id": str(row.id), "api_key": raw}))
    else:
        print(f"api key {raw}  (shown once; id {row.id})")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tenant = sub.add_parser("tenant").add_subparsers(dest="tenant_cmd", required=True)
    tc = tenant.add_parser("create", help="a tenant with wallets and a full-scope key")
    tc.add_argument("--name", required=True)
    tc.add_argument("--credits", type=int, default=0, help="opening credit, cents")
    tc.add_argument("--mode", choices=[m.value for m in Mode], default="test")
    tc.add_argument("--cancel-window-s", type=int, default=None)
    tc.add_argument("--json", action="store_true", help='last line {"tenant_id","api_key"}')
    tc.set_defaults(func=cmd_tenant_create)

    key = sub.add_parser("key").add_subparsers(dest="key_cmd", required=True)
    kc = key.add_parser("create", help="another API key for a tenant")
    kc.add_argument("--tenant", type=uuid.UUID, required=True)
    kc.add_argument("--mode", choices=[m.value for m in Mode], default="test")
    kc.add_argument("--name", default="Operator key")
    kc.add_argument("--scopes", help=f"comma-separated, from {','.join(ALL_SCOPES)}")
    kc.add_argument("--json", action="store_true")
    kc.set_defaults(func=cmd_key_create)
