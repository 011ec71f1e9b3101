"""A keep-alive HTTP/1.1 load generator: N connections in one asyncio loop, each sending
the same POST as fast as answers come back. Light enough to leave the cores to the server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


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


def _request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(
    host: str,
    port: int,
    request: bytes,
    stop_at: float,
    latencies: list[float],
    statuses: dict[int, int],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
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
            latencies.append((time.perf_counter() - started) * 1000)
            status = int(status_line.split()[1]) if status_line else 0
            statuses[status] = statuses.get(status, 0) + 1
    except (ConnectionError, asyncio.IncompleteReadError, IndexError, ValueError):
        errors.append(1)
    finally:
        writer.close()


async def _run(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str], clients: int, s: float
) -> LoadResult:
    request = _request(host, port, path, body, headers)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[int] = []
    started = time.monotonic()
    stop_at = started + s
    await asyncio.gather(
        *(
            _connection(host, port, request, stop_at, latencies, statuses, errors)
            for _ in range(clients)
        )
    )
    elapsed = time.monotonic() - started
    return LoadResult(len(latencies), len(errors), elapsed, latencies, statuses)


def run(
    url_host: str,
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    clients: int = 64,
    seconds: float = 20,
) -> LoadResult:
    return asyncio.run(_run(url_host, port, path, body, headers, clients, seconds))
