"""An order goes pending → processing and its signed webhooks reach the partner:
`order.created` and `order.confirmed` from intake, `order.in_production` from capture."""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.domain import signing
from engine.services import wallet
from tests.conftest import MakeTenant, order_body
from tests.e2e.harness import Deployment, Receiver, wait_until


def test_order_is_confirmed_and_the_webhook_verifies(
    deployment: Deployment, receiver: Receiver, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a tenant with a webhook endpoint subscribed to every event
    t = make_tenant(credits_cents=10_000)
    with deployment.client(t.key) as c:
        hook = c.post("/webhooks", json={"url": receiver.url, "events": ["*"]})
        assert hook.status_code == 201, hook.text
        secret = hook.json()["webhook"]["secret"]

        # When it orders a letter
        created = c.post("/orders", json=order_body(1))
        assert created.status_code == 201, created.text
        order_id = created.json()["order"]["id"]

        # Then the pipeline takes it to processing and the confirmation arrives
        wait_until(
            lambda: c.get(f"/orders/{order_id}").json()["order"]["status"] == "processing",
            what="order processing",
        )
        wait_until(lambda: len(receiver.received) >= 3, what="three webhooks received")

    by_event = {r.json["event"]: r for r in receiver.received}
    assert sorted(by_event) == ["order.confirmed", "order.created", "order.in_production"]
    for accepted in ("order.created", "order.confirmed"):
        assert by_event[accepted].json["data"]["status"] == "pending"
    got = by_event["order.in_production"]
    body = got.json
    assert body["data"]["order_id"] == order_id
    assert body["data"]["status"] == "processing"
    assert set(body) == {"id", "event", "timestamp", "data"}
    # And it verifies with the stock Standard Webhooks library …
    assert Webhook(secret).verify(got.body, got.headers) == body
    # … and with the X-Signature-256 rule (HMAC-SHA256 of the body, keyed by the secret)
    expected = hmac.new(signing.key_bytes(secret), got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-signature-256"] == f"sha256={expected}"
    assert got.headers["x-webhook-event"] == "order.in_production"

    # And the money moved once: one hold, one capture, the wallet equal to its ledger
    with inkwell.uow() as uow:
        kinds = uow.session.scalars(
            sa.select(tables.LedgerEntry.kind).where(tables.LedgerEntry.tenant_id == t.id)
        ).all()
        assert sorted(kinds) == ["capture", "hold", "topup"]
        assert all(check.ok for check in wallet.check_ledger(uow.session))
