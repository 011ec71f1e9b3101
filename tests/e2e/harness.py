"""Run Inkwell as an operator does: the Procfile's processes, against real Postgres and
Redis, plus a local webhook receiver that records (and can refuse) what it is sent."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.serve import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    #: What the receiver answered (None until it has decided).
    status: int | None = None

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1. `respond(n)` decides the answer to the n-th request
    (1-based): a status code, or (status, headers, delay_s)."""

    respond: Callable[[int], int | tuple[int, dict[str, str], float]] = lambda n: 200
    received: list[Received] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                seen = Received({k.lower(): v for k, v in self.headers.items()}, body, time.time())
                with receiver._lock:
                    receiver.received.append(seen)
                    n = len(receiver.received)
                answer = receiver.respond(n)
                status, headers, delay = (answer, {}, 0.0) if isinstance(answer, int) else answer
                seen.status = status
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Deployment:
    """The web, worker and scheduler processes of one Inkwell, sharing one environment."""

    def __init__(self, database_url: str, tmp: Path, **env: str) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))},
            "DATABASE_URL": database_url,
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "REDIS_NAMESPACE": f"inkwell-test-{uuid.uuid4().hex[:8]}",
            "STORAGE_DIR": str(tmp / "storage"),
            "SECRET_KEY": "dGVzdC1vbmx5LWtleS1mb3ItaW5rd2VsbC10ZXN0cy0=",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "ORDER_CANCEL_WINDOW_S": "0",
            "STAGE_DEADLINE_S": "3",
            "SCHEDULER_INTERVAL_S": "0.2",
            # As the Procfile: an idle queue is looked at every 100 ms, not every second.
            "dramatiq_worker_timeout": "100",
            "EVENTS_SETTLE_S": "0",
            "WEBHOOK_RETRY_SCHEDULE_S": "1,1,1",
            "dramatiq_queue_prefetch": "1",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._ready_offsets: dict[str, int] = {}
        self._logs: list[Any] = []

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop())
        self._logs.append(log)
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_web(self, app: str = "api.asgi:app") -> None:
        """uvicorn serving `app` (a fault scenario may name a wrapped one)."""
        self._spawn(
            "web",
            [
                str(BIN / "uvicorn"),
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("web did not start:\n" + self.log("web"))

    def start_worker(self, name: str = "worker", *, processes: int = 1, threads: int = 4) -> None:
        """All three queues in one worker process group (tests need not split them)."""
        self._ready_offsets[name] = len(self.log(name))
        self._spawn(
            name,
            [
                str(BIN / "dramatiq"),
                "workers.broker",
                "workers.actors",
                "--processes",
                str(processes),
                "--threads",
                str(threads),
                "--worker-shutdown-timeout",
                "5000",
            ],
        )

    def wait_worker_ready(self, name: str = "worker", processes: int = 1) -> None:
        """Until every process of the latest `name` group has logged that it is ready."""
        marker = "Worker process is ready for action."
        start = self._ready_offsets.get(name, 0)
        wait_until(
            lambda: self.log(name)[start:].count(marker) >= processes,
            timeout_s=30,
            what=f"{name} ready",
        )

    def start_scheduler(self, *, clock_skew_s: float = 0) -> None:
        """`inkwell scheduler`; with a skew, the same scheduler whose Inkwell clock runs
        that many seconds ahead (tests/e2e/skewed_scheduler.py)."""
        if clock_skew_s:
            argv = [sys.executable, "-m", "tests.e2e.skewed_scheduler", str(clock_skew_s)]
        else:
            argv = [str(BIN / "inkwell"), "scheduler"]
        self._spawn("scheduler", argv)

    def start_all(self, *, workers: int = 1) -> Deployment:
        self.start_web()
        self.start_worker(processes=workers)
        self.start_scheduler()
        return self

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/api/v1/partner",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )

    def stop(self) -> None:
        for name in list(self.procs):
            proc = self.procs[name]
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        for log in self._logs:
            log.close()


def wait_until(predicate: Callable[[], bool], timeout_s: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what or predicate}")


class Feeder:
    """Posts `count` one-recipient orders from a thread, one after another, and keeps what
    the API answered: the ids it accepted (201) and how often it refused or did not answer.
    A missing answer (the web process died) waits for the web to be back, then goes on."""

    def __init__(self, d: Deployment, key: str, count: int, *, pause_s: float = 0.05) -> None:
        self.d = d
        self.key = key
        self.count = count
        self.pause_s = pause_s
        self.accepted: list[uuid.UUID] = []
        self.refused: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def start(self) -> Feeder:
        self._thread.start()
        return self

    def _run(self) -> None:
        from tests.conftest import order_body

        with self.d.client(self.key) as c:
            for i in range(self.count):
                try:
                    r = c.post("/orders", json=order_body(1, external_id=f"feed-{i}"))
                except httpx.TransportError:
                    self._note("no answer")
                    wait_until(self._web_up, timeout_s=60, what="web back")
                    continue
                if r.status_code == 201:
                    self.accepted.append(uuid.UUID(r.json()["order"]["id"]))
                else:
                    self._note(str(r.status_code))
                time.sleep(self.pause_s)

    def _note(self, what: str) -> None:
        self.refused[what] = self.refused.get(what, 0) + 1

    def _web_up(self) -> bool:
        try:
            return httpx.get(f"{self.d.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def answered(self) -> int:
        return len(self.accepted) + sum(self.refused.values())

    def wait_for(self, answered: int) -> None:
        wait_until(lambda: self.answered >= answered, timeout_s=120, what=f"{answered} orders")

    def join(self) -> None:
        self._thread.join(timeout=600)
        assert not self._thread.is_alive(), "the feeder did not finish"


class SecondRelay:
    """A second relay beside the deployment's: it publishes every outbox row the system
    has published once more, the same message id and arguments, through the same Redis
    queues. Every job then arrives twice."""

    def __init__(self, d: Deployment, database_url: str) -> None:
        import sqlalchemy as sa
        from dramatiq.brokers.redis import RedisBroker

        from engine.adapters import tables
        from engine.settings import normalise_database_url
        from workers.relay import publisher

        self._sa = sa
        self._rows = tables.OutboxMessage
        self._engine = sa.create_engine(normalise_database_url(database_url), pool_size=1)
        self._broker = RedisBroker(url=d.env["REDIS_URL"], namespace=d.env["REDIS_NAMESPACE"])
        self._publish = publisher(self._broker)
        self.republished: set[uuid.UUID] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="second-relay", daemon=True)

    def start(self) -> SecondRelay:
        self._thread.start()
        return self

    def pending(self) -> int:
        """Rows published once and not yet by this relay."""
        return len(self._published()) - len(self.republished)

    def _published(self) -> list[Any]:
        o = self._rows
        with self._engine.connect() as conn:
            return list(
                conn.execute(
                    self._sa.select(o.id, o.queue_name, o.actor_name, o.args).where(
                        o.published_at.is_not(None)
                    )
                )
            )

    def _run(self) -> None:
        from engine.services import outbox

        while not self._stop.is_set():
            for row in self._published():
                if row.id not in self.republished:
                    self._publish(
                        outbox.Envelope(str(row.id), row.queue_name, row.actor_name, row.args)
                    )
                    self.republished.add(row.id)
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._broker.close()
        self._engine.dispose()
