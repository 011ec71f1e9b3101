"""`inkwell scheduler` and `inkwell jobs failed|replay`: run the background work's clock,
find the job runs that gave up and run them again."""

from __future__ import annotations

import argparse
import json
import sys
import uuid

from cli import runtime


def cmd_scheduler(args: argparse.Namespace) -> int:
    from workers import scheduler

    return scheduler.main()


def cmd_jobs_failed(args: argparse.Namespace) -> int:
    from engine.services import replay

    app = runtime.open_app()
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

    app = runtime.open_app()
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


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
