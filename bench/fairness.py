"""Tenant B's single order, alone and then behind tenant A's burst: posted over HTTP and
timed until `processing`, with the web process, the workers and the scheduler running
throughout."""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from bench import pipeline, report
from bench.stack import Stack

BURST = int(os.environ.get("BENCH_FAIRNESS_BURST", "5000"))
ALONE_REPEATS = 3


def run(tmp: Path) -> dict[str, dict[str, Any]]:
    with Stack("fair", tmp) as stack:
        stack.migrate()
        a = stack.tenant("burst")
        b = stack.tenant("single")
        port = stack.web()
        stack.workers(2, pipeline.THREADS)
        stack.scheduler()
        stack.one_order_s(port, b)  # warm the workers
        alone = statistics.median(stack.one_order_s(port, b) for _ in range(ALONE_REPEATS))
        print(f"    B alone: {alone:.2f} s; tenant A posts {BURST:,} orders ...", flush=True)
        stack.submit(port, a, BURST)
        behind = stack.one_order_s(port, b)
        a_left = BURST - stack.count(
            "SELECT count(*) FROM orders WHERE tenant_id = %s AND status = 'processing'",
            a.tenant_id,
        )
    print(f"  B alone {alone:.2f} s; behind the burst {behind:.2f} s ({a_left:,} of A's to go)")
    return {
        "fairness": report.entry(
            measures=(
                f"tenant B's one order, accepted to `processing`, right after tenant A posted "
                f"{BURST:,} orders, against B's order with the system otherwise idle "
                f"(median of {ALONE_REPEATS})."
            ),
            ours=behind,
            baseline=alone,
            unit="s",
            ratio=behind / alone,
            ratio_is="B's latency behind the burst / B alone",
            goal=3.0,
            goal_kind="max",
            detail={
                "burst_orders": BURST,
                "a_orders_still_to_go": a_left,
                "b_latency_s": round(behind, 3),
                "b_alone_latency_s": round(alone, 3),
            },
        )
    }
