"""`inkwell orders printed|mailed|delivered`: the print shop's and carrier's reports."""

from __future__ import annotations

import argparse
import sys
import uuid

from cli import runtime


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

    app = runtime.open_app()
    try:
        return _report(fulfilment.record_printed(app, args.order, args.letter or None))
    finally:
        app.close()


def cmd_orders_mailed(args: argparse.Namespace) -> int:
    from engine.services import fulfilment

    app = runtime.open_app()
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

    app = runtime.open_app()
    try:
        return _report(fulfilment.record_delivered(app, args.order))
    finally:
        app.close()


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
