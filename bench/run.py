"""`make bench`: each benchmark against real Postgres, Redis and the processes an operator
starts, beside a raw baseline measured in the same run. A benchmark, not a test: nothing
here asserts a time.

    python -m bench.run                  # all of them (~18 minutes on 2 cores today)
    python -m bench.run webhooks scale   # some; the others keep their last figures
    python -m bench.run --profile        # the pipeline under py-spy (`make profile`)

Writes bench/results/latest.json (one entry per goal: ours, baseline, ratio, goal,
goal_kind), latest.md (the table) and latest.png (the chart). Sizes: BENCH_ORDERS,
BENCH_SCALE_ORDERS, BENCH_DELIVERIES, BENCH_BACKLOG, BENCH_FAIRNESS_BURST,
BENCH_API_SECONDS, BENCH_API_LATENCY_SECONDS, BENCH_THREADS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import api, fairness, growth, pipeline, report, webhooks
from bench.stack import ROOT

RESULTS = ROOT / "bench" / "results"
BENCHMARKS: dict[str, tuple[str, Callable[[Path], dict[str, dict[str, Any]]]]] = {
    "api": (
        f"POST /orders, {api.CLIENTS} keep-alive clients, {api.SECONDS:.0f} s, beside the bare "
        f"route; then {api.OFFERED_RPS:.0f} req/s offered",
        api.run,
    ),
    "pipeline": (
        f"{pipeline.ORDERS:,} one-recipient orders drained by 2 worker processes, beside a "
        "Dramatiq chain of INSERTs",
        pipeline.run,
    ),
    "webhooks": (
        f"{webhooks.DELIVERIES:,} signed, logged deliveries, beside plain httpx posts",
        webhooks.run,
    ),
    "scale": (
        f"the pipeline ({pipeline.SCALE_ORDERS:,} orders) with 1 and with 2 worker processes",
        pipeline.scale,
    ),
    "growth": (
        f"orders of {', '.join(map(str, growth.SIZES))} recipients; worker memory over a "
        f"{growth.BACKLOG:,}-message backlog",
        growth.run,
    ),
    "fairness": (
        f"tenant B's one order, alone and behind tenant A's {fairness.BURST:,}",
        fairness.run,
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the pipeline with py-spy on one worker; write results/profile-pipeline.txt",
    )
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if args.profile:
        return _profile()
    names = args.names or list(BENCHMARKS)
    results: dict[str, Any] = {}
    failed = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="inkwell-bench-") as tmp:
        for i, name in enumerate(names, 1):
            what, bench = BENCHMARKS[name]
            print(f"[{i}/{len(names)}] {name}: {what} ...", flush=True)
            started = time.monotonic()
            try:
                entries = bench(Path(tmp))
            except Exception:
                traceback.print_exc()
                print(f"  {name} FAILED; its last figures stay in latest.json", flush=True)
                failed.append(name)
                continue
            for key, e in entries.items():
                verdict = "met" if e["met"] else "NOT met"
                sign = ">=" if e["goal_kind"] == "min" else "<="
                print(f"  {key}: ratio {e['ratio']:.3g} (goal {sign} {e['goal']}) {verdict}")
            print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
            results.update(entries)
    out = RESULTS / "latest.json"
    # A partial run (`python -m bench.run fairness`) keeps the other benchmarks' last figures.
    kept = json.loads(out.read_text()) if out.exists() else {}
    merged = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **{k: v for k, v in kept.items() if report.is_entry(v)},
        **results,
    }
    report.write(merged, RESULTS)
    print()
    print(report.markdown(merged).split("\n\n")[0])
    print(f"\nwritten: bench/results/latest.{{json,md,png}} ({time.monotonic() - began:.0f} s)")
    return 1 if failed else 0


def _profile() -> int:
    out = RESULTS / "profile-pipeline.txt"
    print(f"pipeline under py-spy: {pipeline.ORDERS:,} orders ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="inkwell-profile-") as tmp:
        pipeline.profile(Path(tmp), out)
    print("\n".join(out.read_text().splitlines()[:40]))
    print(f"written: {out.relative_to(ROOT)} (latest.json untouched: a profiled run is slower)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
