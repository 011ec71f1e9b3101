"""`make bench`: the pipeline and the API against real Postgres and Redis, each beside a
baseline measured in the same run. Prints a table; writes bench/results/latest.json.
A benchmark, not a test: nothing here asserts a time."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import redis

from api.serve import ServerThread, free_port
from bench import loadgen

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ORDERS = int(os.environ.get("BENCH_ORDERS", "1000"))
#: order.created, order.confirmed, order.in_production: the webhooks one order sends.
EVENTS_PER_ORDER = 3
API_SECONDS = float(os.environ.get("BENCH_API_SECONDS", "20"))
#: Encrypts the bench's webhook secrets at rest (production refuses to start without one).
BENCH_SECRET_KEY = "YmVuY2gtb25seS1rZXktZm9yLWlua3dlbGwtYmVuY2g="
API_CLIENTS = 64
WORKER_PROCESSES = 2
WORKER_THREADS = int(os.environ.get("BENCH_THREADS", "8"))


def _db(name: str) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def _drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


def _purge_redis(namespace: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)


class Procs:
    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = env
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 (lives with the process)
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def wait_log(self, name: str, marker: str, count: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        path = self.logdir / f"{name}.log"
        while time.monotonic() < deadline:
            if path.exists() and path.read_text(errors="replace").count(marker) >= count:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready:\n{path.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


class _Receiver:
    """The partner's endpoint: a minimal ASGI app under uvicorn (httptools), so its cost on
    these shared cores stays small; in production it runs on the partner's machines."""

    def __init__(self) -> None:
        self.count = 0

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            # A plain function: uvicorn reads a bound method as an ASGI2 app.
            await self._app(scope, receive, send)

        self.server = ServerThread(app).start()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        self.count += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    @property
    def url(self) -> str:
        return self.server.url + "/hooks"

    def stop(self) -> None:
        self.server.stop()


WORKER_READY = "Worker process is ready for action."


def bench_pipeline(tmp: Path) -> dict[str, Any]:
    name = f"inkwell_bench_{os.getpid()}"
    url = _db(name)
    namespace = f"inkwell-bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "REDIS_NAMESPACE": namespace,
        "SECRET_KEY": BENCH_SECRET_KEY,
        "ORDER_CANCEL_WINDOW_S": "0",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "STORAGE_DIR": str(tmp / "storage"),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "REDIS_NAMESPACE")})
    from engine.adapters import migrate
    from engine.bootstrap import bootstrap
    from engine.services import keys, orders, tenants, webhooks
    from engine.settings import Settings

    migrate.upgrade(url)
    app = bootstrap(
        Settings(
            database_url=url,
            redis_url=None,
            secret_key=BENCH_SECRET_KEY,
            storage_dir=tmp / "storage",
            order_cancel_window_s=0,
            webhook_allow_private_targets=True,
        )
    )
    receiver = _Receiver()
    procs = Procs(env, tmp)
    try:
        made = tenants.create_tenant(app, name="bench", credits_cents=ORDERS * 1000)
        who = keys.authenticate(app, f"Bearer {made.api_key}")
        webhooks.create_endpoint(app, who, {"url": receiver.url, "events": ["*"]})
        body = {
            "message_body": "Dear {{first_name}},\n\nThank you!\n",
            "recipients": [
                {
                    "first_name": "Ann",
                    "last_name": "Lee",
                    "address_line1": "1 Main St",
                    "city": "Austin",
                    "state": "TX",
                    "zip": "78701",
                }
            ],
        }
        for _ in range(ORDERS):
            orders.create_order(app, who, body)
        procs.start(
            "pipeline-workers",
            [
                str(BIN / "dramatiq"),
                "workers.broker",
                "workers.actors",
                "--processes",
                str(WORKER_PROCESSES),
                "--threads",
                str(WORKER_THREADS),
            ],
        )
        procs.wait_log("pipeline-workers", WORKER_READY, WORKER_PROCESSES)
        procs.start("scheduler", [str(BIN / "inkwell"), "scheduler"])
        started = time.monotonic()
        with psycopg.connect(url) as conn:
            while True:
                done = conn.execute(
                    "SELECT (SELECT count(*) FROM orders WHERE status = 'processing'),"
                    " (SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'"
                    "  AND event_type = 'order.in_production'),"
                    " (SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded')"
                ).fetchone()
                conn.commit()
                assert done is not None
                # Drained: every order processing, and all its webhooks delivered (created
                # and confirmed from intake, in_production from capture).
                if done[0] >= ORDERS and done[1] >= ORDERS and done[2] >= EVENTS_PER_ORDER * ORDERS:
                    break
                if time.monotonic() - started > 600:
                    raise RuntimeError(f"pipeline did not drain: {done}")
                time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        procs.stop()
        receiver.stop()
        app.close()
        _purge_redis(namespace)
    ours = {
        "orders": ORDERS,
        "seconds": round(elapsed, 2),
        "orders_per_s": round(ORDERS / elapsed, 1),
        "webhooks_received": receiver.count,
    }

    # Baseline: the same number of hops, each one INSERT.
    from bench import chain

    chain_ns = f"inkwell-bench-chain-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_hops (chain_id int, hop int)")
    env2 = {**env, "REDIS_NAMESPACE": chain_ns, "BENCH_CHAIN_DSN": url}
    procs = Procs(env2, tmp)
    try:
        procs.start(
            "chain-workers",
            [
                str(BIN / "dramatiq"),
                "bench.chain",
                "--processes",
                str(WORKER_PROCESSES),
                "--threads",
                str(WORKER_THREADS),
            ],
        )
        procs.wait_log("chain-workers", WORKER_READY, WORKER_PROCESSES)
        chain.broker.namespace = chain_ns
        started = time.monotonic()
        for i in range(ORDERS):
            chain.hop.send(i, 1)
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                row = conn.execute(
                    "SELECT count(*) FROM bench_hops WHERE hop = %s", (chain.HOPS,)
                ).fetchone()
                assert row is not None
                if row[0] >= ORDERS:
                    break
                if time.monotonic() - started > 600:
                    raise RuntimeError("baseline chain did not drain")
                time.sleep(0.05)
        base_elapsed = time.monotonic() - started
    finally:
        procs.stop()
        _purge_redis(chain_ns)
        if not os.environ.get("BENCH_KEEP_DB"):
            _drop(name)
    baseline = {
        "chains": ORDERS,
        "hops": chain.HOPS,
        "seconds": round(base_elapsed, 2),
        "chains_per_s": round(ORDERS / base_elapsed, 1),
    }
    ratio = ours["orders_per_s"] / baseline["chains_per_s"]
    return {"ours": ours, "baseline": baseline, "ratio": round(ratio, 3), "goal": 0.30}


FAIRNESS_BURST = int(os.environ.get("BENCH_FAIRNESS_BURST", "5000"))


def bench_fairness(tmp: Path) -> dict[str, Any]:
    """Tenant B's single order, alone and then behind tenant A's burst: accepted to
    `processing`, with the workers and scheduler running throughout."""
    name = f"inkwell_bench_fair_{os.getpid()}"
    url = _db(name)
    namespace = f"inkwell-bench-fair-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "REDIS_NAMESPACE": namespace,
        "SECRET_KEY": BENCH_SECRET_KEY,
        "ORDER_CANCEL_WINDOW_S": "0",
        "STORAGE_DIR": str(tmp / "fair-storage"),
        "LOG_LEVEL": "WARNING",
    }
    from concurrent.futures import ThreadPoolExecutor

    from engine.adapters import migrate
    from engine.bootstrap import bootstrap
    from engine.services import keys, orders, tenants
    from engine.settings import Settings

    migrate.upgrade(url)
    app = bootstrap(
        Settings(
            database_url=url,
            redis_url=None,
            secret_key=BENCH_SECRET_KEY,
            storage_dir=tmp / "fair-storage",
            order_cancel_window_s=0,
        )
    )
    body = {
        "message_body": "Dear {{first_name}},\n\nThank you!\n",
        "recipients": [
            {
                "first_name": "Ann",
                "last_name": "Lee",
                "address_line1": "1 Main St",
                "city": "Austin",
                "state": "TX",
                "zip": "78701",
            }
        ],
    }
    procs = Procs(env, tmp)

    def processing(tenant_id: uuid.UUID) -> int:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM orders WHERE tenant_id = %s AND status = 'processing'",
                (tenant_id,),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def b_latency_s(who: Any, tenant_id: uuid.UUID, before: int) -> float:
        started = time.monotonic()
        orders.create_order(app, who, body)
        while processing(tenant_id) <= before:
            if time.monotonic() - started > 600:
                raise RuntimeError("tenant B's order did not reach processing")
            time.sleep(0.01)
        return time.monotonic() - started

    try:
        a = tenants.create_tenant(app, name="burst", credits_cents=FAIRNESS_BURST * 1000)
        b = tenants.create_tenant(app, name="single", credits_cents=100_000)
        who_a = keys.authenticate(app, f"Bearer {a.api_key}")
        who_b = keys.authenticate(app, f"Bearer {b.api_key}")
        procs.start(
            "fair-workers",
            [
                str(BIN / "dramatiq"),
                "workers.broker",
                "workers.actors",
                "--processes",
                str(WORKER_PROCESSES),
                "--threads",
                str(WORKER_THREADS),
            ],
        )
        procs.wait_log("fair-workers", WORKER_READY, WORKER_PROCESSES)
        procs.start("fair-scheduler", [str(BIN / "inkwell"), "scheduler"])
        alone = [b_latency_s(who_b, b.tenant_id, i) for i in range(3)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: orders.create_order(app, who_a, body), range(FAIRNESS_BURST)))
        behind = b_latency_s(who_b, b.tenant_id, 3)
        a_left = FAIRNESS_BURST - processing(a.tenant_id)
    finally:
        procs.stop()
        app.close()
        _purge_redis(namespace)
        if not os.environ.get("BENCH_KEEP_DB"):
            _drop(name)
    alone_s = sorted(alone)[1]
    return {
        "ours": {
            "burst_orders": FAIRNESS_BURST,
            "b_latency_s": round(behind, 3),
            "a_orders_still_to_go": a_left,
        },
        "baseline": {"b_alone_latency_s": round(alone_s, 3)},
        "ratio": round(behind / alone_s, 2),
        "goal": 3.0,
        "goal_kind": "max",
    }


def bench_api(tmp: Path) -> dict[str, Any]:
    name = f"inkwell_bench_api_{os.getpid()}"
    url = _db(name)
    namespace = f"inkwell-bench-api-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "REDIS_NAMESPACE": namespace,
        "SECRET_KEY": BENCH_SECRET_KEY,
        "STORAGE_DIR": str(tmp / "storage"),
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_PER_MINUTE": "100000000",
    }
    from engine.adapters import migrate
    from engine.bootstrap import bootstrap
    from engine.services import tenants
    from engine.settings import Settings

    migrate.upgrade(url)
    app = bootstrap(Settings(database_url=url, redis_url=None, secret_key=BENCH_SECRET_KEY))
    made = tenants.create_tenant(app, name="bench", credits_cents=10**12)
    app.close()
    procs = Procs(env, tmp)
    body = json.dumps(
        {
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
    ).encode()
    try:
        procs.start(
            "web",
            [
                str(BIN / "uvicorn"),
                "bench.app:make",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(url):
                    pass
                import httpx

                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        auth = {"Authorization": f"Bearer {made.api_key}"}
        path = "/api/v1/partner/orders"
        loadgen.run("127.0.0.1", port, path, body, auth, clients=API_CLIENTS, seconds=2)
        ours = loadgen.run(
            "127.0.0.1", port, path, body, auth, clients=API_CLIENTS, seconds=API_SECONDS
        )
        loadgen.run(
            "127.0.0.1", port, "/bench/bare-orders", body, {}, clients=API_CLIENTS, seconds=2
        )
        bare = loadgen.run(
            "127.0.0.1",
            port,
            "/bench/bare-orders",
            body,
            {},
            clients=API_CLIENTS,
            seconds=API_SECONDS,
        )
    finally:
        procs.stop()
        _purge_redis(namespace)
        _drop(name)

    def summary(r: loadgen.LoadResult) -> dict[str, Any]:
        return {
            "requests": r.requests,
            "rps": round(r.rps, 1),
            "p50_ms": round(r.percentile(50), 2),
            "p99_ms": round(r.percentile(99), 2),
            "statuses": r.statuses,
            "connection_errors": r.errors,
        }

    ratio = ours.rps / bare.rps if bare.rps else 0.0
    return {
        "ours": summary(ours),
        "baseline": summary(bare),
        "ratio": round(ratio, 3),
        "goal": 0.40,
        "clients": API_CLIENTS,
        "seconds": API_SECONDS,
    }


def main() -> int:
    which = sys.argv[1:] or ["pipeline", "api", "fairness"]
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    with tempfile.TemporaryDirectory(prefix="inkwell-bench-") as tmp:
        if "pipeline" in which:
            print(
                f"pipeline: {ORDERS} one-letter orders, {WORKER_PROCESSES} worker processes "
                f"x {WORKER_THREADS} threads, cancel window 0 ...",
                flush=True,
            )
            p = results["pipeline"] = bench_pipeline(Path(tmp))
            print(
                f"  inkwell  {p['ours']['orders_per_s']:>8} orders/s  "
                f"({p['ours']['seconds']} s, {p['ours']['webhooks_received']} webhooks)"
            )
            print(
                f"  baseline {p['baseline']['chains_per_s']:>8} chains/s  "
                f"({p['baseline']['hops']} hops x 1 INSERT, {p['baseline']['seconds']} s)"
            )
            print(f"  ratio    {p['ratio']:.0%} (goal >= {p['goal']:.0%})", flush=True)
        if "api" in which:
            print(
                f"api: POST /orders, {API_CLIENTS} keep-alive clients, {API_SECONDS:.0f} s ...",
                flush=True,
            )
            a = results["api"] = bench_api(Path(tmp))
            for label, r in (("inkwell", a["ours"]), ("bare", a["baseline"])):
                print(
                    f"  {label:8} {r['rps']:>8} req/s  p50 {r['p50_ms']} ms  "
                    f"p99 {r['p99_ms']} ms  {r['statuses']}"
                )
            print(f"  ratio    {a['ratio']:.0%} (goal >= {a['goal']:.0%})")
        if "fairness" in which:
            print(
                f"fairness: tenant B's one order, alone and behind tenant A's {FAIRNESS_BURST} ...",
                flush=True,
            )
            f = results["fairness"] = bench_fairness(Path(tmp))
            print(
                f"  B alone  {f['baseline']['b_alone_latency_s']} s; behind the burst "
                f"{f['ours']['b_latency_s']} s ({f['ours']['a_orders_still_to_go']} of A's "
                f"orders still to go)"
            )
            print(f"  ratio    {f['ratio']}x (goal <= {f['goal']}x)", flush=True)
    out = ROOT / "bench" / "results" / "latest.json"
    # A partial run (`python -m bench.run fairness`) keeps the other benchmarks' last figures.
    kept = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**kept, **results}, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
