"""A real delivery, sent over HTTP to a local receiver, passes 000's own verifier (ported
line for line in tests/unit/test_premier_signature.py) and carries 000's headers."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import delivery, fanout
from tests.conftest import MakeTenant, order_body
from tests.unit.test_premier_signature import verifyWebhookSignature


class Receiver:
    """The partner's endpoint: keeps each request's headers and raw body, answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/premier"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def send_everything(inkwell: Inkwell, tenant_id: uuid.UUID) -> None:
    """Fan out and deliver the tenant's events, as the webhook workers would."""
    with inkwell.uow() as uow:
        events = uow.session.scalars(
            sa.select(tables.Event.id).where(tables.Event.tenant_id == tenant_id)
        ).all()
    for event_id in events:
        fanout.fan_out(inkwell, event_id)
    with inkwell.uow() as uow:
        pending = uow.session.scalars(
            sa.select(tables.WebhookDelivery.id).where(
                tables.WebhookDelivery.tenant_id == tenant_id,
                tables.WebhookDelivery.status == "pending",
            )
        ).all()
    for delivery_id in pending:
        assert delivery.deliver(inkwell, delivery_id) == "succeeded"


def test_a_real_delivery_passes_000s_verifier(
    client: httpx.Client, inkwell: Inkwell, make_tenant: MakeTenant, receiver: Receiver
) -> None:
    # Given a partner endpoint on 127.0.0.1 and the secret exactly as we returned it
    t = make_tenant()
    made = client.post(
        "/webhooks", json={"url": receiver.url, "events": ["order.confirmed"]}, headers=t.headers
    )
    assert made.status_code == 201, made.text
    secret = made.json()["webhook"]["secret"]

    # When an order is placed and its confirmation is delivered over HTTP
    order = client.post("/orders", json=order_body(1), headers=t.headers)
    assert order.status_code == 201, order.text
    send_everything(inkwell, t.id)

    # Then the receiver got one request, and 000's verifier accepts its raw body
    [(headers, body)] = receiver.received
    raw_body = body.decode()
    assert verifyWebhookSignature(raw_body, headers["x-premier-signature"], secret) is True
    # And 000's other headers say what happened
    event = json.loads(raw_body)
    assert headers["x-premier-event"] == event["event"] == "order.confirmed"
    assert event["data"]["order_id"] == order.json()["order"]["id"]
    assert datetime.fromisoformat(headers["x-premier-timestamp"]).utcoffset() is not None
    # And X-Premier-Delivery is the delivery id the logs show, logged as a success
    logs: dict[str, Any] = client.get("/webhook-logs", headers=t.headers).json()
    [logged] = logs["deliveries"]
    assert headers["x-premier-delivery"] == logged["id"]
    assert logged["success"] is True and logged["status"] == "succeeded"
    detail = client.get(f"/webhook-logs/{logged['id']}", headers=t.headers).json()["delivery"]
    assert [(a["response_status"], a["success"]) for a in detail["attempt_log"]] == [(200, True)]


def test_after_rotation_000s_verifier_needs_the_new_secret(
    client: httpx.Client, inkwell: Inkwell, make_tenant: MakeTenant, receiver: Receiver
) -> None:
    # Given an endpoint whose secret was rotated (the old one still signs for 24 h)
    t = make_tenant()
    made = client.post(
        "/webhooks", json={"url": receiver.url, "events": ["order.created"]}, headers=t.headers
    )
    old = made.json()["webhook"]["secret"]
    rotated = client.post(
        f"/webhooks/{made.json()['webhook']['id']}/rotate-secret", headers=t.headers
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["webhook"]["secret"]

    # When an order's order.created is delivered
    assert client.post("/orders", json=order_body(1), headers=t.headers).status_code == 201
    send_everything(inkwell, t.id)

    # Then X-Premier-Signature verifies with the current secret, its -Previous with the old
    [(headers, body)] = receiver.received
    assert verifyWebhookSignature(body.decode(), headers["x-premier-signature"], new)
    assert not verifyWebhookSignature(body.decode(), headers["x-premier-signature"], old)
    assert verifyWebhookSignature(body.decode(), headers["x-premier-signature-previous"], old)
