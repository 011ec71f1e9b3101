"""POST /orders against the same app's bare route (same body, same validation, no database
and no authentication): closed loop for throughput, then open loop for latency."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench import loadgen, report
from bench.partner import ORDERS_PATH
from bench.stack import Stack

CLIENTS = 64
SECONDS = float(os.environ.get("BENCH_API_SECONDS", "20"))
#: The closed loop alternates ours and the bare route in this many rounds, so a slow spell
#: on the shared machine falls on both.
ROUNDS = 2
WARM_S = 2.0
OFFERED_RPS = 100.0
OFFERED_SECONDS = float(os.environ.get("BENCH_API_LATENCY_SECONDS", "15"))
BARE_PATH = "/bench/bare-orders"
BODY = {
    "message_body": "Dear {{first_name}},\n\nThank you for your business!\n\nBest regards",
    "product_type": "letter",
    "paper_type": "standard",
    "envelope_type": "standard",
    "recipients": [
        {
            "first_name": "John",
            "last_name": "Doe",
            "address_line1": "456 Oak Ave",
            "address_line2": "Suite 100",
            "city": "Los Angeles",
            "state": "CA",
            "zip": "90001",
            "country": "US",
            "custom_fields": {"company": "Acme Inc"},
        }
    ],
}


def _merge(results: list[loadgen.LoadResult]) -> loadgen.LoadResult:
    statuses: dict[int, int] = {}
    for r in results:
        for status, n in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return loadgen.LoadResult(
        sum(r.requests for r in results),
        sum(r.errors for r in results),
        sum(r.seconds for r in results),
        [x for r in results for x in r.latencies_ms],
        statuses,
    )


def run(tmp: Path) -> dict[str, dict[str, Any]]:
    import json

    body = json.dumps(BODY).encode()
    with Stack("api", tmp) as stack:
        stack.migrate()
        auth = stack.tenant("bench").auth
        port = stack.web("bench.app:make", factory=True)
        targets = {"ours": (ORDERS_PATH, auth), "bare": (BARE_PATH, {})}
        for path, headers in targets.values():
            loadgen.run("127.0.0.1", port, path, body, headers, clients=CLIENTS, seconds=WARM_S)
        closed: dict[str, list[loadgen.LoadResult]] = {"ours": [], "bare": []}
        for i in range(ROUNDS):
            for name, (path, headers) in targets.items():
                print(f"    closed loop, round {i + 1}/{ROUNDS}: {name} ...", flush=True)
                closed[name].append(
                    loadgen.run(
                        "127.0.0.1",
                        port,
                        path,
                        body,
                        headers,
                        clients=CLIENTS,
                        seconds=SECONDS / ROUNDS,
                    )
                )
        opened = {}
        for name, (path, headers) in targets.items():
            print(f"    open loop, {OFFERED_RPS:.0f} req/s for {OFFERED_SECONDS:.0f} s: {name} ...")
            opened[name] = loadgen.offered(
                "127.0.0.1",
                port,
                path,
                body,
                headers,
                rate=OFFERED_RPS,
                seconds=OFFERED_SECONDS,
            )
    ours, bare = _merge(closed["ours"]), _merge(closed["bare"])
    for name, r in (("inkwell", ours), ("bare", bare)):
        print(
            f"  {name:8} {r.rps:8.1f} req/s  p50 {r.percentile(50):.1f} ms  "
            f"p99 {r.percentile(99):.1f} ms  {r.statuses}"
        )
    for name, r in (("inkwell", opened["ours"]), ("bare", opened["bare"])):
        print(
            f"  {name:8} at {OFFERED_RPS:.0f} req/s offered: p50 {r.percentile(50):.1f} ms  "
            f"p99 {r.percentile(99):.1f} ms  {r.statuses}"
        )
    return {
        "api": report.entry(
            measures=(
                f"POST /orders (1 recipient) from {CLIENTS} keep-alive clients for "
                f"{SECONDS:.0f} s, against the same app's bare route validating the same "
                "body without the database; closed loop, ours and bare alternating."
            ),
            ours=ours.rps,
            baseline=bare.rps,
            unit="req/s",
            ratio=ours.rps / bare.rps if bare.rps else 0.0,
            ratio_is="ours / baseline requests per second",
            goal=0.40,
            goal_kind="min",
            detail={
                "ours": ours.summary(),
                "baseline": bare.summary(),
                "clients": CLIENTS,
                "seconds": SECONDS,
                "web_processes": 2,
            },
        ),
        "api_latency": report.entry(
            measures=(
                f"POST /orders offered at a fixed {OFFERED_RPS:.0f} req/s for "
                f"{OFFERED_SECONDS:.0f} s (open loop; latency counted from when each "
                "request was due); baseline: the bare route under the same load."
            ),
            ours=opened["ours"].percentile(99),
            baseline=opened["bare"].percentile(99),
            unit="ms p99",
            ratio=opened["ours"].percentile(99),
            ratio_is="ours itself, p99 in ms (the goal is absolute)",
            goal=50,
            goal_kind="max",
            detail={
                "ours": opened["ours"].summary(),
                "baseline": opened["bare"].summary(),
                "offered_rps": OFFERED_RPS,
                "seconds": OFFERED_SECONDS,
            },
        ),
    }
