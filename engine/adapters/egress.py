"""Connections for webhook sends: only to the address vetted for this attempt, within its
deadline.

httpx asks the network backend for a connection to the URL's host; this backend ignores
the name and connects to the address the URL guard resolved and vetted for the current
attempt (no second lookup). TLS still verifies and names the original host, because
httpcore passes it as `server_hostname`. Every read, write and handshake gets at most the
time left before the attempt's total deadline, so a receiver that drips one byte a second
is cut off at the deadline (httpx's own timeouts are per read and never would).
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
import time
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import httpcore

SOCKET_OPTION = typing.Any


@dataclass(frozen=True)
class Pin:
    """Where this attempt may connect, and until when it may take."""

    host: str
    port: int
    address: str
    deadline: float  # time.monotonic()

    def left_s(self, timeout: float | None) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the attempt's total deadline has passed")
        return left if timeout is None else min(timeout, left)


_pin: contextvars.ContextVar[Pin | None] = contextvars.ContextVar("egress_pin", default=None)


@contextlib.contextmanager
def pinned(pin: Pin) -> Iterator[None]:
    """Connections made (and reads done) inside go to `pin.address`, within its deadline."""
    token = _pin.set(pin)
    try:
        yield
    finally:
        _pin.reset(token)


def _current() -> Pin:
    pin = _pin.get()
    if pin is None:
        raise httpcore.ConnectError("no vetted address for this connection")
    return pin


class DeadlineStream(httpcore.NetworkStream):
    """A stream whose every operation ends by the current attempt's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _current().left_s(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _current().left_s(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _current().left_s(timeout)
        return DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> typing.Any:
        return self.inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Connects to the current attempt's vetted address, never to a looked-up name."""

    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        pin = _current()
        if host.strip("[]").lower() != pin.host.strip("[]").lower() or port != pin.port:
            raise httpcore.ConnectError("connection to a host that was not vetted")
        stream = self.inner.connect_tcp(
            pin.address, port, pin.left_s(timeout), local_address, socket_options
        )
        return DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks never go to unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
