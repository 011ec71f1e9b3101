"""`inkwell`: migrate the database, create tenants and keys, add credits, check the ledger."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cli import accounts, jobs, money, production, schema, secret_keys
from engine import errors
from engine.bootstrap import ConfigurationError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inkwell", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    # In this order in `inkwell --help`.
    for commands in (schema, accounts, money, jobs, production, secret_keys):
        commands.add_commands(sub)
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
