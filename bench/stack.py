"""One benchmark's private Inkwell, started as an operator would start it.

A fresh database and Redis namespace; `inkwell db upgrade` and `inkwell tenant create`;
`uvicorn api.asgi:app` to take orders over HTTP; `dramatiq workers.broker workers.actors`
and `inkwell scheduler` to drain them. The bench reaches the engine only through these
commands, the HTTP API and the tables it counts, so reshaping the engine's modules does
not break it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from bench import host, loadgen
from bench.partner import ORDERS_PATH, WEBHOOKS_PATH, Tenant, order_body

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Encrypts the bench's webhook secrets at rest (production refuses to start without one).
SECRET_KEY = "YmVuY2gtb25seS1rZXktZm9yLWlua3dlbGwtYmVuY2g="
WORKER_READY = "Worker process is ready for action."
#: Connections the bench takes orders on: enough to keep two web processes busy.
INTAKE_CLIENTS = 16
#: Longest any drain may take before the bench gives up on it.
DRAIN_LIMIT_S = float(os.environ.get("BENCH_DRAIN_LIMIT_S", "900"))


class Stack:
    """A database, a Redis namespace and the processes started on them; `close()` ends all."""

    def __init__(self, tag: str, logdir: Path) -> None:
        self.db_name = f"inkwell_bench_{tag}_{os.getpid()}"
        self.url = host.create_db(self.db_name)
        self.namespace = f"inkwell-bench-{tag}-{uuid.uuid4().hex[:8]}"
        self.logdir = logdir
        self.env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "REDIS_URL": REDIS_URL,
            "REDIS_NAMESPACE": self.namespace,
            "SECRET_KEY": SECRET_KEY,
            "ORDER_CANCEL_WINDOW_S": "0",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "STORAGE_DIR": str(logdir / f"storage-{tag}"),
            "RATE_LIMIT_PER_MINUTE": "100000000",
            "LOG_LEVEL": "WARNING",
            # As the Procfile: an idle queue is looked at every 100 ms, not every second.
            "dramatiq_worker_timeout": os.environ.get("WORKER_POLL_MS", "100"),
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._db: psycopg.Connection[tuple[Any, ...]] | None = None

    # -- setting up --------------------------------------------------------------------

    def migrate(self) -> None:
        self._command("inkwell", "db", "upgrade")

    def tenant(self, name: str, credits_cents: int = 10**9) -> Tenant:
        out = self._command(
            "inkwell",
            "tenant",
            "create",
            "--name",
            name,
            "--credits",
            str(credits_cents),
            "--cancel-window-s",
            "0",
            "--json",
        )
        made = json.loads(out.strip().splitlines()[-1])
        return Tenant(made["tenant_id"], made["api_key"])

    def _command(self, *argv: str) -> str:
        done = subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    # -- processes ---------------------------------------------------------------------

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 (lives with the process)
        self.procs[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def web(self, app: str = "api.asgi:app", processes: int = 2, *, factory: bool = False) -> int:
        """Serve `app` as `make serve` does (uvloop, httptools, no access log); its port."""
        port = host.free_port()
        argv = [str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--workers", str(processes), "--loop", "uvloop", "--http", "httptools"]
        argv += ["--no-access-log", "--log-level", "warning"]
        self.start("web", argv + (["--factory"] if factory else []))
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return port
            except httpx.HTTPError:
                pass
            self._check_alive("web")
            if time.monotonic() > deadline:
                raise RuntimeError(f"web not ready:\n{self.log_tail('web')}")
            time.sleep(0.2)

    def workers(self, processes: int, threads: int, queues: tuple[str, ...] = ()) -> None:
        argv = [str(BIN / "dramatiq"), "workers.broker", "workers.actors"]
        argv += ["--processes", str(processes), "--threads", str(threads)]
        if queues:
            argv += ["--queues", *queues]
        self.start("workers", argv)
        self.wait_log("workers", WORKER_READY, processes)

    def scheduler(self) -> None:
        self.start("scheduler", [str(BIN / "inkwell"), "scheduler"])

    def worker_pids(self) -> list[int]:
        """The worker processes dramatiq spawned (not its parent nor the resource tracker)."""
        proc = self.procs.get("workers")
        return host.spawned_children(proc.pid) if proc else []

    def wait_log(self, name: str, marker: str, count: int, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.log_tail(name, 10**7).count(marker) >= count:
                return
            self._check_alive(name)
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready:\n{self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.logdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _check_alive(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited {proc.returncode}:\n{self.log_tail(name)}")

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    # -- taking orders and watching them ---------------------------------------------------

    def submit(self, port: int, tenant: Tenant, count: int, recipients: int = 1) -> None:
        """`count` orders over HTTP, as many at once as INTAKE_CLIENTS; all must be taken."""
        body = order_body(recipients)
        taken = 0
        for _ in range(5):
            result = loadgen.send(
                "127.0.0.1",
                port,
                ORDERS_PATH,
                body,
                tenant.auth,
                total=count - taken,
                clients=min(INTAKE_CLIENTS, count - taken),
            )
            taken += result.statuses.get(201, 0)
            if taken >= count:
                return
        raise RuntimeError(f"only {taken} of {count} orders taken: {result.statuses}")

    def one_order_s(self, port: int, tenant: Tenant, recipients: int = 1) -> float:
        """Seconds from posting one order until it is `processing` (workers running)."""
        started = time.monotonic()
        answer = httpx.post(
            f"http://127.0.0.1:{port}{ORDERS_PATH}",
            content=order_body(recipients),
            headers={**tenant.auth, "content-type": "application/json"},
            timeout=60,
        )
        if answer.status_code != 201:
            raise RuntimeError(f"order not taken: {answer.status_code} {answer.text}")
        order_id = answer.json()["order"]["id"]
        while True:
            status = self.row("SELECT status FROM orders WHERE id = %s", order_id)[0]
            if status == "processing":
                return time.monotonic() - started
            if status == "failed" or time.monotonic() - started > DRAIN_LIMIT_S:
                raise RuntimeError(f"order {order_id} {status}:\n{self.log_tail('workers')}")
            time.sleep(0.01)

    def subscribe(self, port: int, tenant: Tenant, url: str) -> None:
        answer = httpx.post(
            f"http://127.0.0.1:{port}{WEBHOOKS_PATH}",
            json={"url": url, "events": ["*"]},
            headers=tenant.auth,
            timeout=30,
        )
        if answer.status_code != 201:
            raise RuntimeError(f"webhook not registered: {answer.status_code} {answer.text}")

    def row(self, sql: str, *params: object) -> tuple[Any, ...]:
        if self._db is None:
            self._db = psycopg.connect(self.url, autocommit=True)
        row = self._db.execute(sql, params).fetchone()
        assert row is not None
        return row

    def count(self, sql: str, *params: object) -> int:
        return int(self.row(sql, *params)[0])

    def wait_until(
        self, sql: str, target: int, *params: object, poll_s: float = 0.05, label: str = ""
    ) -> float:
        """Poll `sql` (one count) until it reaches `target`; the seconds it took."""
        started = time.monotonic()
        last_print = started
        while (n := self.count(sql, *params)) < target:
            now = time.monotonic()
            if now - started > DRAIN_LIMIT_S:
                raise RuntimeError(f"{label or sql}: {n} of {target} after {DRAIN_LIMIT_S} s")
            if label and now - last_print >= 10:
                print(f"    {label}: {n:,}/{target:,} after {now - started:.0f} s", flush=True)
                last_print = now
            time.sleep(poll_s)
        return time.monotonic() - started

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)
        if self._db is not None:
            self._db.close()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{self.namespace}*"):
            client.delete(key)
        if not os.environ.get("BENCH_KEEP_DB"):
            host.drop_db(self.db_name)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
