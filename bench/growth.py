"""Does cost grow with size? Two questions, one entry each.

growth: one order of 1, 10 and 100 recipients, each taken over HTTP while the workers idle
and timed until `processing`; the per-recipient time must not grow with the order. The
ratio is the most it grows from a smaller order to a larger one (over every pair of
sizes), so a step that costs more per letter in a bigger order shows, while the fixed cost
of an order's hops, spread over more letters, does not count against it. (Worst over best
per-recipient time, also in `detail`, measures mostly that fixed cost: a 1-recipient
order's time is nearly all hops.)

growth_memory: the worker processes' resident memory while they drain a backlog of
BENCH_BACKLOG messages (accepted one-recipient orders, each sending MESSAGES_PER_ORDER),
after warm-up against the end.
"""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from typing import Any

from bench import pipeline, report
from bench.receiver import Receiver
from bench.stack import Stack

SIZES = (1, 10, 100)
REPEATS = 3
BACKLOG = int(os.environ.get("BENCH_BACKLOG", "20000"))
#: check_addresses, render_order, capture_order, and fan_out_event plus deliver_webhook
#: for each of order.created, order.confirmed, order.in_production.
MESSAGES_PER_ORDER = 9
#: The backlog's first tenth is warm-up (imports, pools, caches, fonts filled).
WARM_FRACTION = 0.1


def run(tmp: Path) -> dict[str, dict[str, Any]]:
    return {"growth": recipients(tmp), "growth_memory": memory(tmp)}


def recipients(tmp: Path) -> dict[str, Any]:
    receiver = Receiver()
    try:
        with Stack("growth", tmp) as stack:
            stack.migrate()
            tenant = stack.tenant("bench")
            port = stack.web(processes=1)
            stack.subscribe(port, tenant, receiver.url)
            stack.workers(2, pipeline.THREADS)
            stack.scheduler()
            stack.one_order_s(port, tenant)  # warm the workers
            seconds = {}
            for size in SIZES:
                runs = [stack.one_order_s(port, tenant, size) for _ in range(REPEATS)]
                seconds[size] = statistics.median(runs)
                print(
                    f"    {size:>3} recipients: {seconds[size]:.2f} s "
                    f"({1000 * seconds[size] / size:.1f} ms per recipient)",
                    flush=True,
                )
    finally:
        receiver.stop()
    per = {size: 1000 * s / size for size, s in seconds.items()}
    small, large = max(
        ((a, b) for a in SIZES for b in SIZES if a < b), key=lambda p: per[p[1]] / per[p[0]]
    )
    return report.entry(
        measures=(
            f"one order of {', '.join(map(str, SIZES))} recipients, accepted to `processing` "
            f"with the workers idle (median of {REPEATS}); per-recipient time."
        ),
        ours=per[large],
        baseline=per[small],
        unit="ms/recipient",
        ratio=per[large] / per[small],
        ratio_is=(
            f"per-recipient time of the {large}-recipient order / of the {small}-recipient "
            "order, the pair of sizes where it grows most"
        ),
        goal=1.25,
        goal_kind="max",
        detail={
            "seconds": {str(k): round(v, 3) for k, v in seconds.items()},
            "ms_per_recipient": {str(k): round(v, 2) for k, v in per.items()},
            "worst_over_best": round(max(per.values()) / min(per.values()), 2),
            "repeats": REPEATS,
        },
    )


def memory(tmp: Path) -> dict[str, Any]:
    orders = math.ceil(BACKLOG / MESSAGES_PER_ORDER)
    print(f"    backlog: {orders:,} orders (~{BACKLOG:,} messages) ...", flush=True)
    drained = pipeline.drain("backlog", tmp, orders=orders, processes=2)
    samples = drained.rss
    warm = next((s for s in samples if s[1] >= WARM_FRACTION * orders), samples[-1])
    end = samples[-1]
    if not warm[2] or not end[2]:
        raise RuntimeError("no worker process found to measure")
    peak = max(s[2] for s in samples)
    print(
        f"  worker RSS {warm[2]:.0f} MiB after warm-up, {end[2]:.0f} MiB at the end "
        f"(peak {peak:.0f}) over {drained.messages:,} messages in {drained.seconds:.0f} s"
    )
    return report.entry(
        measures=(
            f"resident memory of the 2 worker processes together while they drain "
            f"{drained.messages:,} messages ({orders:,} accepted orders), after the first "
            f"{WARM_FRACTION:.0%} of orders against the end."
        ),
        ours=end[2],
        baseline=warm[2],
        unit="MiB",
        ratio=end[2] / warm[2],
        ratio_is="RSS at the end / RSS after warm-up",
        goal=1.25,
        goal_kind="max",
        detail={
            "drain": drained.as_dict(),
            "peak_mib": peak,
            "warm_at_s": warm[0],
            # (seconds, orders processing, MiB), thinned to about 30 points.
            "samples": [*samples[:: max(1, len(samples) // 30)], samples[-1]],
        },
    )
