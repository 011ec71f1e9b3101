"""Tenant B's single order, alone and then behind tenant A's burst: posted over HTTP and
timed until `processing`, with the web process, the workers and the scheduler running
throughout."""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from bench import pipeline, report
from bench.partner import Tenant
from bench.stack import Stack

BURST = int(os.environ.get("BENCH_FAIRNESS_BURST", "5000"))
ALONE_REPEATS = 3


def _left(stack: Stack, tenant: Tenant) -> int:
    """How many of `tenant`'s orders are not yet `processing`."""
    return BURST - stack.count(
        "SELECT count(*) FROM orders WHERE tenant_id = %s AND status = 'processing'",
        tenant.tenant_id,
    )


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
        # One after another, each started while some of A's burst is still to go (the
        # first always is): the median, as for B alone.
        samples: list[float] = []
        while len(samples) < ALONE_REPEATS and (not samples or _left(stack, a) > 0):
            samples.append(stack.one_order_s(port, b))
        behind = statistics.median(samples)
        a_left = _left(stack, a)
    shown = ", ".join(f"{x:.2f}" for x in samples)
    print(f"  B alone {alone:.2f} s; behind {behind:.2f} s ({shown}); {a_left:,} of A's left")
    return {
        "fairness": report.entry(
            measures=(
                f"tenant B's one order, accepted to `processing`, right after tenant A posted "
                f"{BURST:,} orders (median of up to {ALONE_REPEATS} in a row, each started "
                "while some of A's were still to go), against B's order with the system "
                f"otherwise idle (median of {ALONE_REPEATS})."
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
                "b_latency_samples_s": [round(x, 3) for x in samples],
                "b_alone_latency_s": round(alone, 3),
            },
        )
    }
