"""Accepted orders drained by the real workers, and the raw Dramatiq chain beside them.

`drain` is the engine's side, shared by the pipeline, scale, growth and profile runs: take
N orders over HTTP with no worker running, then start the workers and the scheduler and
time until every order is `processing` and every event it recorded has been delivered to
a local receiver. `chain` is the baseline: a Dramatiq chain with the pipeline's number of
hops, one Postgres INSERT each, on the same broker and worker shape.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import profiling, report
from bench.host import rss_mb
from bench.receiver import Receiver
from bench.stack import BIN, DRAIN_LIMIT_S, WORKER_READY, Stack

THREADS = int(os.environ.get("BENCH_THREADS", "8"))
#: How often the drain is counted: three counts over growing tables cost Postgres time that
#: the workers would otherwise have, so not too often.
POLL_S = 0.2
#: orders `processing`, deliveries succeeded, events recorded, orders failed.
_PROGRESS = (
    "SELECT (SELECT count(*) FROM orders WHERE status = 'processing'),"
    " (SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'),"
    " (SELECT count(*) FROM events),"
    " (SELECT count(*) FROM orders WHERE status = 'failed')"
)


@dataclass
class Drained:
    orders: int
    recipients: int
    processes: int
    seconds: float
    webhooks_received: int
    signed: int
    #: Messages the run sent through the broker (one per outbox row).
    messages: int
    #: (seconds since start, orders processing, worker RSS MiB), about once a second.
    rss: list[tuple[float, int, float]] = field(default_factory=list)

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.seconds

    def as_dict(self) -> dict[str, object]:
        return {
            "orders": self.orders,
            "recipients_per_order": self.recipients,
            "worker_processes": self.processes,
            "threads": THREADS,
            "seconds": round(self.seconds, 2),
            "orders_per_s": round(self.orders_per_s, 1),
            "webhooks_received": self.webhooks_received,
            "messages": self.messages,
        }


def drain(
    tag: str,
    tmp: Path,
    *,
    orders: int,
    processes: int,
    recipients: int = 1,
    profile_to: Path | None = None,
) -> Drained:
    receiver = Receiver()
    with Stack(tag, tmp) as stack:
        try:
            stack.migrate()
            tenant = stack.tenant("bench")
            port = stack.web()
            stack.subscribe(port, tenant, receiver.url)
            stack.submit(port, tenant, orders, recipients)
            # The web process is done; it must not share the cores with the drain.
            stack.stop("web")
            stack.workers(processes, THREADS)
            attached = None
            if profile_to is not None:
                attached = profiling.Attached(stack.worker_pids()[0], profile_to)
            stack.scheduler()
            rss = []
            started = time.monotonic()
            next_sample, next_print = 0.0, 10.0
            while True:
                processing, delivered, events, failed = _progress(stack)
                now = time.monotonic() - started
                if now >= next_sample:
                    rss.append((round(now, 1), processing, round(rss_mb(stack.worker_pids()), 1)))
                    next_sample += 1
                if now >= next_print:
                    print(
                        f"    {now:4.0f} s: {processing:,}/{orders:,} processing, "
                        f"{delivered:,}/{events:,} webhooks delivered",
                        flush=True,
                    )
                    next_print += 10
                if failed:
                    raise RuntimeError(f"{failed} orders failed:\n{stack.log_tail('workers')}")
                if processing >= orders and delivered >= events > 0:
                    break
                if now > DRAIN_LIMIT_S:
                    raise RuntimeError(f"the pipeline did not drain: {processing, delivered}")
                time.sleep(POLL_S)
            elapsed = time.monotonic() - started
            rss.append((round(elapsed, 1), orders, round(rss_mb(stack.worker_pids()), 1)))
            if attached is not None:
                attached.stop()
            messages = stack.count("SELECT count(*) FROM outbox")
        finally:
            receiver.stop()
    return Drained(
        orders, recipients, processes, elapsed, receiver.count, receiver.signed, messages, rss
    )


def _progress(stack: Stack) -> tuple[int, int, int, int]:
    row = stack.row(_PROGRESS)
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


@dataclass(frozen=True)
class Chained:
    chains: int
    hops: int
    seconds: float

    @property
    def chains_per_s(self) -> float:
        return self.chains / self.seconds

    def as_dict(self) -> dict[str, object]:
        return {
            "chains": self.chains,
            "hops": self.hops,
            "worker_processes": 2,
            "threads": THREADS,
            "seconds": round(self.seconds, 2),
            "chains_per_s": round(self.chains_per_s, 1),
        }


def chain(tmp: Path, chains: int, processes: int = 2) -> Chained:
    """The baseline: `chains` Dramatiq chains of `bench.chain.HOPS` hops, one INSERT each."""
    from bench import chain as hops

    with Stack("chain", tmp) as stack:
        with psycopg.connect(stack.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_hops (chain_id int, hop int)")
        env = {**stack.env, "BENCH_CHAIN_DSN": stack.url}
        argv = [str(BIN / "dramatiq"), "bench.chain", "--processes", str(processes)]
        stack.start("workers", [*argv, "--threads", str(THREADS)], env=env)
        stack.wait_log("workers", WORKER_READY, processes)
        hops.broker.namespace = stack.namespace
        started = time.monotonic()
        for i in range(chains):
            hops.hop.send(i, 1)
        stack.wait_until(
            "SELECT count(*) FROM bench_hops WHERE hop = %s",
            chains,
            hops.HOPS,
            label="chains finished",
        )
        elapsed = time.monotonic() - started
    return Chained(chains, hops.HOPS, elapsed)


ORDERS = int(os.environ.get("BENCH_ORDERS", "5000"))
SCALE_ORDERS = int(os.environ.get("BENCH_SCALE_ORDERS", "1000"))


def run(tmp: Path) -> dict[str, dict[str, Any]]:
    ours = drain("pipeline", tmp, orders=ORDERS, processes=2)
    print(
        f"  inkwell  {ours.orders_per_s:8.1f} orders/s ({ours.seconds:.1f} s, "
        f"{ours.webhooks_received:,} webhooks, {ours.messages:,} messages)",
        flush=True,
    )
    print(f"    baseline: {ORDERS:,} Dramatiq chains ...", flush=True)
    base = chain(tmp, ORDERS)
    print(
        f"  baseline {base.chains_per_s:8.1f} chains/s ({base.hops} hops x 1 INSERT, "
        f"{base.seconds:.1f} s)"
    )
    return {
        "pipeline": report.entry(
            measures=(
                f"{ORDERS:,} accepted one-recipient orders drained to `processing` with every "
                f"webhook they raised delivered, 2 worker processes x {THREADS} threads plus "
                f"the scheduler, against a Dramatiq chain of {base.hops} hops, one Postgres "
                "INSERT each, in the same shape."
            ),
            ours=ours.orders_per_s,
            baseline=base.chains_per_s,
            unit="/s",
            ratio=ours.orders_per_s / base.chains_per_s,
            ratio_is="ours orders per second / baseline chains per second",
            goal=0.30,
            goal_kind="min",
            detail={"ours": ours.as_dict(), "baseline": base.as_dict()},
        )
    }


def scale(tmp: Path) -> dict[str, dict[str, Any]]:
    rates = {}
    for processes in (1, 2):
        print(f"    {SCALE_ORDERS:,} orders, {processes} worker process(es) ...", flush=True)
        drained = drain(f"scale{processes}", tmp, orders=SCALE_ORDERS, processes=processes)
        rates[processes] = drained
        print(f"  {processes} process(es) {drained.orders_per_s:8.1f} orders/s", flush=True)
    one, two = rates[1].orders_per_s, rates[2].orders_per_s
    return {
        "scale": report.entry(
            measures=(
                f"the pipeline ({SCALE_ORDERS:,} orders, as in `pipeline`) with 2 worker "
                "processes against 1, each with the same threads."
            ),
            ours=two,
            baseline=one,
            unit="orders/s",
            ratio=two / one,
            ratio_is="orders per second with 2 processes / with 1",
            goal=1.7,
            goal_kind="min",
            detail={"1": rates[1].as_dict(), "2": rates[2].as_dict()},
        )
    }


def profile(tmp: Path, out: Path) -> None:
    """The pipeline run with py-spy on one of the two worker processes; the summary to `out`."""
    raw = tmp / "profile-pipeline.raw"
    ours = drain("profile", tmp, orders=ORDERS, processes=2, profile_to=raw)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    heading = (
        f"pipeline profile, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit "
        f"{commit or '?'}: {ORDERS:,} orders drained in {ours.seconds:.1f} s "
        f"({ours.orders_per_s:.1f} orders/s, slowed a little by the profiler) by 2 worker "
        f"processes x {THREADS} threads; py-spy on the first worker process"
    )
    out.write_text(profiling.summarise(raw, heading, ours.seconds))
    print(f"  inkwell  {ours.orders_per_s:8.1f} orders/s under the profiler")
