"""`inkwell db upgrade|downgrade`: move the database schema between migrations."""

from __future__ import annotations

import argparse

from engine.adapters import migrate
from engine.settings import get_settings


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


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    up = db.add_parser("upgrade", help="migrate to the newest schema")
    up.add_argument("revision", nargs="?", default="head")
    up.add_argument("--url", help="database URL (default: DATABASE_URL or the embedded file)")
    up.set_defaults(func=cmd_db_upgrade)
    down = db.add_parser("downgrade", help="migrate back to REVISION")
    down.add_argument("revision")
    down.add_argument("--url")
    down.set_defaults(func=cmd_db_downgrade)
