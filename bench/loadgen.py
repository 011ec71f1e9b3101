"""A keep-alive HTTP/1.1 load generator in one asyncio loop, light enough to leave the cores
to the server. Three shapes: closed loop for a time (`run`: each connection sends again as
soon as its answer is back), closed loop for a count (`send`), and open loop (`offered`:
requests leave on a fixed schedule whatever the server does, and each latency counts from
when its request was due, so a stall is not hidden by the requests it held back)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Connections the open loop may hold; a request due while all are busy waits for one (and
#: that wait is part of its latency).
OPEN_LOOP_CONNECTIONS = 64


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "connection_errors": self.errors,
        }


def _request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0

    def result(self, seconds: float) -> LoadResult:
        return LoadResult(len(self.latencies), self.errors, seconds, self.latencies, self.statuses)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request on a kept-alive connection and read its answer; the status."""
    writer.write(request)
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return int(status_line.split()[1]) if status_line else 0


_FAILED = (ConnectionError, asyncio.IncompleteReadError, IndexError, ValueError)


async def _closed(
    host: str, port: int, request: bytes, more: Callable[[], bool], tally: _Tally
) -> None:
    """One connection sending while `more()` says so."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while more():
            started = time.perf_counter()
            status = await _exchange(reader, writer, request)
            tally.latencies.append((time.perf_counter() - started) * 1000)
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
    except _FAILED:
        tally.errors += 1
    finally:
        writer.close()


async def _run_closed(
    host: str, port: int, request: bytes, clients: int, more: Callable[[], bool]
) -> tuple[_Tally, float]:
    tally = _Tally()
    started = time.monotonic()
    await asyncio.gather(*(_closed(host, port, request, more, tally) for _ in range(clients)))
    return tally, time.monotonic() - started


def run(
    host: str,
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    clients: int = 64,
    seconds: float = 20,
) -> LoadResult:
    """`clients` connections sending back to back for `seconds`."""
    request = _request(host, port, path, body, headers)
    stop_at = time.monotonic() + seconds
    tally, elapsed = asyncio.run(
        _run_closed(host, port, request, clients, lambda: time.monotonic() < stop_at)
    )
    return tally.result(elapsed)


def send(
    host: str,
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    total: int,
    clients: int = 16,
) -> LoadResult:
    """`total` requests over `clients` connections, back to back."""
    request = _request(host, port, path, body, headers)
    left = [total]

    def more() -> bool:
        left[0] -= 1
        return left[0] >= 0

    tally, elapsed = asyncio.run(_run_closed(host, port, request, clients, more))
    return tally.result(elapsed)


async def _run_open(
    host: str, port: int, request: bytes, rate: float, seconds: float
) -> tuple[_Tally, float]:
    tally = _Tally()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    opened = 0

    async def one(due: float) -> None:
        nonlocal opened
        if idle.empty() and opened < OPEN_LOOP_CONNECTIONS:
            opened += 1
            idle.put_nowait(await asyncio.open_connection(host, port))
        conn = await idle.get()
        try:
            status = await _exchange(conn[0], conn[1], request)
        except _FAILED:
            tally.errors += 1
            conn[1].close()
            opened -= 1
            return
        tally.latencies.append((time.perf_counter() - due) * 1000)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        idle.put_nowait(conn)

    started = time.perf_counter()
    tasks = []
    for i in range(int(rate * seconds)):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    while not idle.empty():
        idle.get_nowait()[1].close()
    return tally, elapsed


def offered(
    host: str,
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    rate: float,
    seconds: float,
) -> LoadResult:
    """Requests due at a fixed `rate` per second for `seconds`, latency counted from due."""
    request = _request(host, port, path, body, headers)
    tally, elapsed = asyncio.run(_run_open(host, port, request, rate, seconds))
    return tally.result(elapsed)
