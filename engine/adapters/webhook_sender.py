"""Send one webhook attempt over HTTP: 10 s timeout, no redirects, first 2 KB kept."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

BODY_KEEP_BYTES = 2048


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    latency_ms: int
    body: str | None
    error: str | None
    retry_after: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender:
    """One pooled sync client per process (faster than async here; see PERFORMANCE.md)."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            trust_env=False,
        )

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        started = time.perf_counter()
        try:
            with self.client.stream("POST", url, content=body, headers=headers) as response:
                kept = bytearray()
                for chunk in response.iter_raw():
                    kept += chunk
                    # A receiver drip-feeding its body does not hold the worker past this.
                    slow = time.perf_counter() - started > 2 * self.timeout_s
                    if len(kept) >= BODY_KEEP_BYTES or slow:
                        break
                return AttemptResult(
                    status_code=response.status_code,
                    latency_ms=int((time.perf_counter() - started) * 1000),
                    body=bytes(kept[:BODY_KEEP_BYTES]).decode("utf-8", "replace"),
                    error=None,
                    retry_after=response.headers.get("retry-after"),
                )
        except httpx.HTTPError as e:
            return AttemptResult(
                status_code=None,
                latency_ms=int((time.perf_counter() - started) * 1000),
                body=None,
                error=f"{type(e).__name__}: {e}"[:2048],
                retry_after=None,
            )

    def close(self) -> None:
        self.client.close()
