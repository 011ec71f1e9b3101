"""Signed, logged webhook deliveries by the real workers, against plain httpx posting the same
bodies to the same receiver, unsigned and unlogged, with the same process and thread shape.

Ours: orders are taken over HTTP with no worker running (intake records `order.created`
and `order.confirmed` for each, so DELIVERIES / 2 orders), then workers on the `webhooks`
queue only fan the events out and deliver them; timed from the workers' start until every
delivery has succeeded. The pipeline's own queues have no worker, so nothing else runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.pipeline import THREADS
from bench.receiver import Receiver
from bench.stack import ROOT, Stack

DELIVERIES = int(os.environ.get("BENCH_DELIVERIES", "5000"))
PROCESSES = 2


def run(tmp: Path) -> dict[str, dict[str, Any]]:
    receiver = Receiver(keep_bodies=True)
    try:
        with Stack("webhooks", tmp) as stack:
            stack.migrate()
            tenant = stack.tenant("bench")
            port = stack.web()
            stack.subscribe(port, tenant, receiver.url)
            stack.submit(port, tenant, (DELIVERIES + 1) // 2)
            stack.stop("web")
            events = stack.count("SELECT count(*) FROM events")
            print(f"    {events:,} events recorded; delivering ...", flush=True)
            stack.workers(PROCESSES, THREADS, queues=("webhooks", "webhooks_express"))
            stack.scheduler()
            seconds = stack.wait_until(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'",
                events,
                poll_s=0.2,
                label="webhooks delivered",
            )
            stack.stop("scheduler")
            stack.stop("workers")
            attempts = stack.count("SELECT count(*) FROM webhook_attempts")
        signed = receiver.signed
        bodies = list(receiver.bodies)
        print(f"    baseline: httpx posting the same {len(bodies):,} bodies ...", flush=True)
        base_seconds, base_ok = _post_plainly(tmp, receiver.url, bodies)
    finally:
        receiver.stop()
    ours_rate = events / seconds
    base_rate = len(bodies) / base_seconds
    print(f"  inkwell  {ours_rate:8.1f} deliveries/s ({seconds:.1f} s, {signed:,} signed)")
    print(f"  baseline {base_rate:8.1f} posts/s ({base_seconds:.1f} s, {base_ok:,} answered 2xx)")
    return {
        "webhooks": report.entry(
            measures=(
                f"{events:,} signed, logged deliveries (fan-out, claim, sign, send, record) "
                f"to a local receiver by {PROCESSES} worker processes x {THREADS} threads, "
                "against httpx keep-alive clients in the same shape posting the same bodies "
                "unsigned and unlogged."
            ),
            ours=ours_rate,
            baseline=base_rate,
            unit="/s",
            ratio=ours_rate / base_rate,
            ratio_is="ours deliveries per second / baseline posts per second",
            goal=0.50,
            goal_kind="min",
            detail={
                "ours": {
                    "deliveries": events,
                    "seconds": round(seconds, 2),
                    "signed_received": signed,
                    "attempts_logged": attempts,
                },
                "baseline": {
                    "posts": len(bodies),
                    "seconds": round(base_seconds, 2),
                    "answered_2xx": base_ok,
                },
                "processes": PROCESSES,
                "threads": THREADS,
            },
        )
    }


def _post_plainly(tmp: Path, url: str, bodies: list[bytes]) -> tuple[float, int]:
    """PROCESSES sender processes from one agreed start; the seconds until the last ends."""
    path = tmp / "webhook-bodies.json"
    path.write_text(json.dumps([b.decode() for b in bodies]))
    # Time enough for every sender to start and open its clients before the clock starts.
    start_at = time.time() + 3.0
    senders = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.webhook_post", "--url", url, "--bodies", str(path)),
                *("--part", str(i), "--parts", str(PROCESSES), "--threads", str(THREADS)),
                *("--start-at", str(start_at)),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for i in range(PROCESSES)
    ]
    finished = []
    for sender in senders:
        out, _ = sender.communicate(timeout=600)
        if sender.returncode != 0:
            raise RuntimeError("a baseline sender failed")
        finished.append(json.loads(out))
    return max(f["finished_at"] for f in finished) - start_at, sum(f["ok"] for f in finished)
