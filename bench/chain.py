"""Baseline for the pipeline benchmark: a Dramatiq chain with the pipeline's number of hops,
each doing one Postgres INSERT (its own transaction) and sending the next hop."""

from __future__ import annotations

import os
import threading

import dramatiq
import psycopg
from dramatiq.brokers.redis import RedisBroker

HOPS = 5
broker = RedisBroker(
    url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    namespace=os.environ.get("REDIS_NAMESPACE", "inkwell-bench-chain"),
)
dramatiq.set_broker(broker)
_local = threading.local()


def _conn() -> psycopg.Connection[tuple[object, ...]]:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = psycopg.connect(os.environ["BENCH_CHAIN_DSN"], autocommit=True)
        _local.conn = conn
    return conn


@dramatiq.actor(queue_name="chain", max_retries=0)
def hop(chain_id: int, n: int) -> None:
    _conn().execute("INSERT INTO bench_hops (chain_id, hop) VALUES (%s, %s)", (chain_id, n))
    if n < HOPS:
        hop.send(chain_id, n + 1)
