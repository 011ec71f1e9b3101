"""`inkwell`: migrate the database, create tenants and keys, add credits, check the ledger."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from engine import errors
from engine.adapters import migrate
from engine.bootstrap import ConfigurationError, Inkwell, bootstrap
from engine.domain.scopes import ALL_SCOPES
from engine.domain.statuses import Mode
from engine.services import keys, tenants, wallet
from engine.settings import get_settings


def _app() -> Inkwell:
    return bootstrap(get_settings())


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    url = args.url or get_settings().effective_database_url
    migrate.upgrade(url, args.revision)
    print(f"database at {args.revision}")
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    url = args.url or get_settings().effective_database_url
    migrate.downgrade(url, args.revision)
    print(f"database at {args.revision}")
    return 0


def cmd_tenant_create(args: argparse.Namespace) -> int:
    app = _app()
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
    app = _app()
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


def cmd_credits_add(args: argparse.Namespace) -> int:
    app = _app()
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
    app = _app()
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


def cmd_scheduler(args: argparse.Namespace) -> int:
    from workers import scheduler

    return scheduler.main()


def cmd_jobs_failed(args: argparse.Namespace) -> int:
    from engine.services import replay

    app = _app()
    try:
        runs = replay.failed_runs(
            app, actor=args.actor, include_replayed=args.all, limit=args.limit
        )
    finally:
        app.close()
    if args.json:
        for run in runs:
            print(
                json.dumps(
                    {
                        "id": str(run.id),
                        "actor": run.actor_name,
                        "order_id": str(run.order_id) if run.order_id else None,
                        "message_id": run.message_id,
                        "attempt": run.attempt,
                        "started_at": run.started_at.isoformat(),
                        "error": run.error,
                        "replayed_at": run.replayed_at.isoformat() if run.replayed_at else None,
                    }
                )
            )
        return 0
    for run in runs:
        print(
            f"{run.id}  {run.started_at:%Y-%m-%d %H:%M:%S}  {run.actor_name:16} "
            f"order={run.order_id or '-'} attempt={run.attempt}  {run.error or ''}"
        )
    print(f"{len(runs)} failed job run(s)")
    return 0


def cmd_jobs_replay(args: argparse.Namespace) -> int:
    from engine.services import replay

    app = _app()
    try:
        if args.all:
            ids = [r.id for r in replay.failed_runs(app, actor=args.actor, limit=10_000)]
        else:
            ids = list(args.ids)
        if not ids:
            print("nothing to replay (give run ids, or --all [--actor NAME])", file=sys.stderr)
            return 2
        results = replay.replay(app, ids)
    finally:
        app.close()
    for r in results:
        print(f"{r.run_id}  {r.actor_name:16} {r.result}")
    refused = [r for r in results if r.result.startswith(("refused", "not found"))]
    print(f"{len(results) - len(refused)} replayed, {len(refused)} refused")
    return 1 if refused else 0


def cmd_secrets_new_key(args: argparse.Namespace) -> int:
    from engine.adapters import secretbox

    print(secretbox.new_key())
    return 0


def cmd_secrets_rotate_key(args: argparse.Namespace) -> int:
    from engine.services import webhook_secrets

    settings = get_settings()
    if args.new_key_file or args.old_key_file:
        # Every key the settings know stays readable; the new one (if given) seals.
        known = [k for k in (settings.secret_key, *settings.secret_key_previous) if k]
        new = args.new_key_file.read_text().strip() if args.new_key_file else None
        old = [f.read_text().strip() for f in args.old_key_file or []]
        current = new or settings.secret_key
        previous = tuple(k for k in dict.fromkeys([*old, *known]) if k != current)
        settings = settings.model_copy(
            update={"secret_key": current, "secret_key_previous": previous}
        )
    app = bootstrap(settings)
    try:
        report = webhook_secrets.reseal_all(app, batch_size=args.batch_size)
    finally:
        app.close()
    print(f"{report.resealed} endpoint(s) re-encrypted under key {app.secret_keys.current_id}")
    for endpoint_id in report.unreadable:
        print(f"UNREADABLE endpoint {endpoint_id}: no given key decrypts it", file=sys.stderr)
    return 1 if report.unreadable else 0


def _tracking(value: str) -> tuple[uuid.UUID, str | None]:
    """`LETTER_ID=TRACKING` or a bare `LETTER_ID` (mail without tracking)."""
    letter, _, number = value.partition("=")
    return uuid.UUID(letter), number or None


def _report(progress: object) -> int:
    from engine.services import fulfilment

    assert isinstance(progress, fulfilment.Progress)
    told = ", ".join(progress.events) or "no new events"
    print(f"order {progress.order_id}: {progress.status}; {progress.moved} letter(s) moved; {told}")
    return 0


def cmd_orders_printed(args: argparse.Namespace) -> int:
    from engine.services import fulfilment

    app = _app()
    try:
        return _report(fulfilment.record_printed(app, args.order, args.letter or None))
    finally:
        app.close()


def cmd_orders_mailed(args: argparse.Namespace) -> int:
    from engine.services import fulfilment

    app = _app()
    try:
        if not args.all and not args.letter:
            print("nothing to mail (give --letter ID[=TRACKING] …, or --all)", file=sys.stderr)
            return 2
        tracking = None if args.all else dict(args.letter)
        return _report(fulfilment.record_mailed(app, args.order, tracking))
    finally:
        app.close()


def cmd_orders_delivered(args: argparse.Namespace) -> int:
    from engine.services import fulfilment

    app = _app()
    try:
        return _report(fulfilment.record_delivered(app, args.order))
    finally:
        app.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inkwell", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    up = db.add_parser("upgrade", help="migrate to the newest schema")
    up.add_argument("revision", nargs="?", default="head")
    up.add_argument("--url", help="database URL (default: DATABASE_URL or the embedded file)")
    up.set_defaults(func=cmd_db_upgrade)
    down = db.add_parser("downgrade", help="migrate back to REVISION")
    down.add_argument("revision")
    down.add_argument("--url")
    down.set_defaults(func=cmd_db_downgrade)

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
    sched = sub.add_parser("scheduler", help="relay the outbox and sweep stalled work")
    sched.set_defaults(func=cmd_scheduler)

    jobs_parser = sub.add_parser("jobs", help="job runs").add_subparsers(
        dest="jobs_cmd", required=True
    )
    jf = jobs_parser.add_parser("failed", help="list job runs that gave up")
    jf.add_argument("--actor", help="only this actor")
    jf.add_argument("--all", action="store_true", help="include runs already replayed")
    jf.add_argument("--limit", type=int, default=100)
    jf.add_argument("--json", action="store_true", help="one JSON object per line")
    jf.set_defaults(func=cmd_jobs_failed)
    jr = jobs_parser.add_parser("replay", help="run failed jobs again through their stage")
    jr.add_argument("ids", nargs="*", type=uuid.UUID, help="job run ids")
    jr.add_argument("--all", action="store_true", help="every failed run not yet replayed")
    jr.add_argument("--actor", help="with --all: only this actor")
    jr.set_defaults(func=cmd_jobs_replay)

    orders_parser = sub.add_parser(
        "orders", help="production reports: printed, mailed, delivered"
    ).add_subparsers(dest="orders_cmd", required=True)
    op = orders_parser.add_parser("printed", help="letters printed (all printed: completed)")
    op.add_argument("order", type=uuid.UUID)
    op.add_argument("--letter", type=uuid.UUID, action="append", help="default: every one")
    op.set_defaults(func=cmd_orders_printed)
    om = orders_parser.add_parser("mailed", help="letters mailed (all mailed: shipped)")
    om.add_argument("order", type=uuid.UUID)
    om.add_argument("--letter", type=_tracking, action="append", metavar="ID[=TRACKING]")
    om.add_argument("--all", action="store_true", help="every printed letter, no tracking")
    om.set_defaults(func=cmd_orders_mailed)
    od = orders_parser.add_parser("delivered", help="the carrier delivered a shipped order")
    od.add_argument("order", type=uuid.UUID)
    od.set_defaults(func=cmd_orders_delivered)

    secrets_parser = sub.add_parser("secrets", help="keys for secrets at rest").add_subparsers(
        dest="secrets_cmd", required=True
    )
    sn = secrets_parser.add_parser("new-key", help="print a fresh SECRET_KEY")
    sn.set_defaults(func=cmd_secrets_new_key)
    sr = secrets_parser.add_parser(
        "rotate-key",
        help="re-encrypt every stored webhook secret under SECRET_KEY",
        description=(
            "Safe order: deploy every process with SECRET_KEY=<new> and "
            "SECRET_KEY_PREVIOUS=<old>, run this (idempotent; batches), then drop "
            "SECRET_KEY_PREVIOUS. --new-key-file/--old-key-file override the settings."
        ),
    )
    sr.add_argument("--new-key-file", type=Path, help="file holding the key to encrypt under")
    sr.add_argument(
        "--old-key-file", type=Path, action="append", help="a key that may still decrypt"
    )
    sr.add_argument("--batch-size", type=int, default=200)
    sr.set_defaults(func=cmd_secrets_rotate_key)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except errors.InkwellError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    except ConfigurationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
