"""Helpers for webhook delivery tests: a raw-socket receiver that can misbehave in ways an
HTTP framework would not let it, and a delivery made through the real services."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import delivery, fanout, orders, principals, tenants, webhooks
from tests.conftest import order_body
from tests.factories import record_event

#: What the receiver does with one connection once it has read the request.
Behaviour = Callable[[socket.socket], None]


class RawReceiver:
    """A threaded TCP server on 127.0.0.1 that reads one HTTP request per connection, counts
    it, and hands the socket to `behaviour`."""

    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1") -> None:
        self.behaviour = behaviour
        self.hits = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server((host, 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    body += chunk
                with self._lock:
                    self.hits += 1
                self.behaviour(conn)
            except OSError:
                return


def answer(status: str, headers: dict[str, str], body: bytes) -> Behaviour:
    """A complete HTTP/1.1 response, then close."""

    def behave(conn: socket.socket) -> None:
        lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body)

    return behave


@dataclass(frozen=True)
class DeliveryState:
    status: str
    attempts: int
    next_attempt_at: object
    lease_until: object
    rows: list[tables.WebhookAttempt]


def make_delivery(app: Inkwell, url: str) -> uuid.UUID:
    """One pending delivery of an order.confirmed event to a new tenant's endpoint on `url`."""
    return new_delivery(app, url)[0]


def new_delivery(app: Inkwell, url: str) -> tuple[uuid.UUID, uuid.UUID, principals.Principal]:
    """As `make_delivery`; returns the delivery id, the endpoint id and the tenant's
    principal."""
    made = tenants.create_tenant(app, name="Hostile", credits_cents=100_000)
    who = principals.authenticate(app, f"Bearer {made.api_key}")
    endpoint, _ = webhooks.create_endpoint(app, who, {"url": url, "events": ["*"]})
    created = orders.create_order(app, who, order_body(1))
    event_id = record_event(app, created.order.id, "order.confirmed", key="t")
    assert fanout.fan_out(app, event_id) == 1
    with app.uow() as uow:
        delivery_id = uow.session.scalars(sa.select(tables.WebhookDelivery.id)).one()
    return delivery_id, endpoint.id, who


def drive(app: Inkwell, delivery_id: uuid.UUID, calls: int = 10) -> list[str]:
    """Call the delivery service until it has nothing to do (or `calls` times)."""
    outcomes = []
    for _ in range(calls):
        outcome = delivery.deliver(app, delivery_id)
        outcomes.append(outcome)
        if outcome == "skipped":
            break
    return outcomes


def state(app: Inkwell, delivery_id: uuid.UUID) -> DeliveryState:
    with app.uow() as uow:
        d = uow.session.get(tables.WebhookDelivery, delivery_id)
        assert d is not None
        rows = list(
            uow.session.scalars(
                sa.select(tables.WebhookAttempt)
                .where(tables.WebhookAttempt.delivery_id == delivery_id)
                .order_by(tables.WebhookAttempt.number)
            )
        )
        return DeliveryState(d.status, d.attempts, d.next_attempt_at, d.lease_until, rows)
