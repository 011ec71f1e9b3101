"""Send one webhook attempt over HTTP to a vetted address, within one total deadline.

The URL is resolved once and every address vetted (`url_guard`); the connection goes to
the vetted address with the original Host and TLS name (`egress`). `timeout_s` is the
whole exchange, connect to last byte kept. Redirects are never followed. Nothing a
receiver does raises out of `post`: every failure is an `AttemptResult` whose error is a
stable code and sentence (`send_failures`); the exception's own text is logged with the
delivery id, for operators.
"""

from __future__ import annotations

import base64
import functools
import logging
import ssl
import time
import unicodedata
from dataclasses import dataclass

import httpcore
import httpx

from engine.adapters import egress, url_guard
from engine.domain import send_failures

log = logging.getLogger("inkwell.webhooks")

BODY_KEEP_BYTES = 2048
ERROR_KEEP_CHARS = 500


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    latency_ms: int
    body: str | None
    error: str | None
    retry_after: str | None
    #: The vetted address the attempt connected to (None when refused before connecting).
    address: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def clean_text(value: str, limit_bytes: int = BODY_KEEP_BYTES) -> str:
    """`value` as storable text: no NUL or control characters, valid UTF-8, bounded."""
    kept = "".join(
        c if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs") else "\ufffd" for c in value
    )
    return kept.encode("utf-8", "replace")[:limit_bytes].decode("utf-8", "ignore")


def body_text(raw: bytes) -> str:
    """A response body as storable text; a note instead of the bytes when it is binary."""
    text = raw.decode("utf-8", "replace")
    odd = sum(1 for c in text if c == "\ufffd" or (c not in "\n\r\t" and ord(c) < 32))
    if b"\x00" in raw or odd > len(text) // 10:
        return f"(binary body, first {len(raw)} bytes not shown)"
    return clean_text(text)


class WebhookSender:
    """One connection pool per process; its connections only go to vetted addresses.

    The pool is httpcore's, used directly: httpx's client around it added cookies, auth,
    redirect handling and URL merging that a webhook POST never needs, and cost as much
    CPU per attempt as the rest of sending it.
    """

    def __init__(
        self,
        timeout_s: float,
        *,
        allow_private: bool = False,
        resolve: url_guard.Resolve | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.allow_private = allow_private
        self.resolve = resolve or url_guard.system_resolver(min(timeout_s, 5.0))
        self.pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            network_backend=egress.PinnedBackend(),
        )
        each = {"connect": timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}
        self._extensions = {"timeout": each}

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        started = time.monotonic()

        def failed(error: str, address: str | None = None) -> AttemptResult:
            return AttemptResult(
                status_code=None,
                latency_ms=int((time.monotonic() - started) * 1000),
                body=None,
                error=clean_text(error, ERROR_KEEP_CHARS),
                retry_after=None,
                address=address,
            )

        target = url_guard.resolve_target(
            url, allow_private=self.allow_private, resolve=self.resolve
        )
        if isinstance(target, str):
            log.warning("webhook delivery %s: target refused: %s", _delivery_id(headers), target)
            return failed(send_failures.refused(target))
        address = target.addresses[0]
        pin = egress.Pin(target.host, target.port, address, started + self.timeout_s)
        try:
            request_url, fixed = _request_target(url)
            with (
                egress.pinned(pin),
                self.pool.stream(
                    "POST",
                    request_url,
                    headers=[
                        *fixed,
                        (b"Content-Length", str(len(body)).encode()),
                        *((k.encode(), v.encode()) for k, v in headers.items()),
                    ],
                    content=body,
                    extensions=self._extensions,
                ) as response,
            ):
                kept = bytearray()
                for chunk in response.iter_stream():  # raw: a gzip body is never inflated
                    kept += chunk
                    if len(kept) >= BODY_KEEP_BYTES:
                        break
                return AttemptResult(
                    status_code=response.status,
                    latency_ms=int((time.monotonic() - started) * 1000),
                    body=body_text(bytes(kept[:BODY_KEEP_BYTES])),
                    error=None,
                    retry_after=_header(response.headers, b"retry-after"),
                    address=address,
                )
        except Exception as e:  # whatever a receiver does is a failed attempt, never a crash
            late = time.monotonic() - started >= self.timeout_s
            error = send_failures.describe(e, late=late, timeout_s=self.timeout_s)
            log.warning(
                "webhook delivery %s: %s (%s: %s)",
                _delivery_id(headers),
                error.split(":", 1)[0],
                type(e).__name__,
                e,
            )
            return failed(error, address)

    def close(self) -> None:
        self.pool.close()


@functools.lru_cache(maxsize=4096)
def _request_target(url: str) -> tuple[httpcore.URL, tuple[tuple[bytes, bytes], ...]]:
    """What httpx's client made of a URL, once per URL: the request target, with the path
    and query percent-encoded and the host in its IDNA form, and the headers it added
    (Host, without the default port; Basic credentials from `user:pass@`)."""
    parsed = httpx.URL(url)
    host = parsed.raw_host
    if b":" in host:  # IPv6
        host = b"[" + host + b"]"
    default_port = 443 if parsed.scheme == "https" else 80
    if parsed.port is not None and parsed.port != default_port:
        host += b":" + str(parsed.port).encode()
    fixed: list[tuple[bytes, bytes]] = [
        (b"Host", host),
        (b"Accept", b"*/*"),
        (b"Connection", b"keep-alive"),
    ]
    if parsed.userinfo:
        credentials = f"{parsed.username}:{parsed.password}".encode()
        fixed.append((b"Authorization", b"Basic " + base64.b64encode(credentials)))
    target = httpcore.URL(
        scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path
    )
    return target, tuple(fixed)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _delivery_id(headers: dict[str, str]) -> str:
    """The delivery id the attempt is signed with (the only thing about it we log)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get("webhook-id") or lowered.get("x-premier-delivery") or "?"
