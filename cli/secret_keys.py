"""`inkwell secrets new-key|rotate-key`: the key that encrypts webhook secrets at rest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.bootstrap import bootstrap
from engine.settings import get_settings


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


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
