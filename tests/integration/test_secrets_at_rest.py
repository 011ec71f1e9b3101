"""Webhook signing secrets are encrypted at rest; a dump alone cannot sign our webhooks."""

from __future__ import annotations

import base64
import stat
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cli import main as cli
from engine.adapters import secretbox, tables
from engine.bootstrap import EMBEDDED_KEY_FILE, ConfigurationError, Inkwell, bootstrap
from engine.domain import signing
from engine.services import delivery, events, fanout, orders, principals, webhooks
from engine.settings import Settings, get_settings
from tests.conftest import TEST_SECRET_KEY, MakeTenant, make_settings, order_body
from tests.factories import principal


class Receiver:
    """A real local HTTP server that keeps every request it is sent."""

    def __init__(self) -> None:
        received: list[tuple[dict[str, str], bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _endpoint(
    app: Inkwell, make_tenant: MakeTenant, url: str
) -> tuple[uuid.UUID, str, principals.Principal]:
    """An endpoint, its returned secret and the tenant's principal."""
    t = make_tenant()
    who = principal(app, t)
    endpoint, secret = webhooks.create_endpoint(app, who, {"url": url})
    return endpoint.id, secret, who


def _deliver_one(app: Inkwell, who: principals.Principal) -> None:
    created = orders.create_order(app, who, order_body(1))
    with app.uow() as uow:
        order = uow.session.get(tables.Order, created.order.id)
        assert order is not None
        event_id = events.record(
            uow.session, order=order, type="order.confirmed", key=str(order.id), now=app.clock()
        )
        uow.commit()
    assert event_id is not None
    assert fanout.fan_out(app, event_id) >= 1
    with app.uow() as uow:
        ids = uow.session.scalars(
            sa.select(tables.WebhookDelivery.id).where(tables.WebhookDelivery.event_id == event_id)
        ).all()
    for delivery_id in ids:
        assert delivery.deliver(app, delivery_id) == "succeeded"


def _raw_secrets(app: Inkwell) -> list[tuple[str, str | None]]:
    with app.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT secret, previous_secret FROM webhook_endpoints"))
        return [(r[0], r[1]) for r in rows]


def test_the_row_holds_neither_the_secret_nor_its_key_bytes_and_deliveries_verify(
    inkwell: Inkwell, make_tenant: MakeTenant, receiver: Receiver
) -> None:
    # Given an endpoint created by a partner, who is handed its secret
    _, secret, who = _endpoint(inkwell, make_tenant, receiver.url)
    key_bytes = signing.key_bytes(secret)

    # Then the raw row contains neither the secret nor its key bytes in any common encoding
    [(stored, _)] = _raw_secrets(inkwell)
    assert stored.startswith(f"enc:v1:{inkwell.secret_keys.current_id}:")
    for leak in (
        secret,
        secret.removeprefix("whsec_"),
        base64.urlsafe_b64encode(key_bytes).decode().rstrip("="),
        key_bytes.hex(),
    ):
        assert leak not in stored

    # And a delivery is still signed with the secret the partner holds
    _deliver_one(inkwell, who)
    [(headers, body)] = receiver.received
    assert Webhook(secret).verify(body, headers)
    assert headers["x-signature-256"] == signing.body_signature(secret, body)


def test_a_dump_read_with_another_key_cannot_produce_the_signature(
    inkwell: Inkwell, make_tenant: MakeTenant, pg_url: str, tmp_path: Path
) -> None:
    # Given an endpoint whose secret is stored under our SECRET_KEY
    _endpoint(inkwell, make_tenant, "http://127.0.0.1:9/hook")
    # When someone with the database but another key tries to recover it
    thief = bootstrap(make_settings(pg_url, tmp_path, secret_key=secretbox.new_key()))
    try:
        with thief.uow() as uow:
            endpoint = uow.session.scalars(sa.select(tables.WebhookEndpoint)).one()
            # Then decryption fails, naming the key it would need
            with pytest.raises(secretbox.CannotOpen, match="neither SECRET_KEY"):
                webhooks.signing_secrets(endpoint, thief.clock(), thief.secret_keys)
    finally:
        thief.close()


def test_rotate_key_reencrypts_every_row_including_legacy_plaintext(
    inkwell: Inkwell,
    make_tenant: MakeTenant,
    receiver: Receiver,
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given two endpoints: one sealed under the old key (rotated once, so it has a previous
    # secret too), one left as legacy plaintext from before encryption
    sealed_id, _, who = _endpoint(inkwell, make_tenant, receiver.url)
    _, sealed_secret = webhooks.rotate_secret(inkwell, who, sealed_id)
    legacy_id, _, legacy_who = _endpoint(inkwell, make_tenant, receiver.url)
    legacy_secret = signing.new_secret()
    with inkwell.uow() as uow:
        uow.session.execute(
            sa.update(tables.WebhookEndpoint)
            .where(tables.WebhookEndpoint.id == legacy_id)
            .values(secret=legacy_secret)
        )
        uow.commit()
    # And the legacy plaintext row still signs (it is read as it is)
    _deliver_one(inkwell, legacy_who)
    assert Webhook(legacy_secret).verify(receiver.received[-1][1], receiver.received[-1][0])

    # When the operator deploys SECRET_KEY=<new>, SECRET_KEY_PREVIOUS=<old> and runs the command
    new_key = secretbox.new_key()
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("SECRET_KEY", new_key)
    monkeypatch.setenv("SECRET_KEY_PREVIOUS", f"{secretbox.new_key()}, {TEST_SECRET_KEY}")
    get_settings.cache_clear()
    try:
        assert cli.main(["secrets", "rotate-key", "--batch-size", "1"]) == 0
        # Then running it again finds nothing left to do
        assert cli.main(["secrets", "rotate-key"]) == 0
    finally:
        get_settings.cache_clear()

    # And every stored value is sealed under the new key only
    new_id = secretbox.key_id(secretbox.parse_key(new_key))
    stored = _raw_secrets(inkwell)
    values = [v for row in stored for v in row if v is not None]
    assert len(values) == 3
    assert all(v.startswith(f"enc:v1:{new_id}:") for v in values)
    assert legacy_secret not in "".join(values)
    # And the old key alone no longer decrypts them
    with inkwell.uow() as uow:
        for e in uow.session.scalars(sa.select(tables.WebhookEndpoint)):
            with pytest.raises(secretbox.CannotOpen):
                webhooks.signing_secrets(e, inkwell.clock(), inkwell.secret_keys)
    # And with the new key alone (SECRET_KEY_PREVIOUS dropped) deliveries verify
    receiver.received.clear()
    rotated = bootstrap(make_settings(pg_url, tmp_path, secret_key=new_key))
    try:
        _deliver_one(rotated, who)
        _deliver_one(rotated, legacy_who)
    finally:
        rotated.close()
    by_secret = {sealed_secret: 0, legacy_secret: 0}
    for headers, body in receiver.received:
        for s in by_secret:
            try:
                Webhook(s).verify(body, headers)
            except WebhookVerificationError:
                continue
            by_secret[s] += 1
    assert by_secret == {sealed_secret: 1, legacy_secret: 1}


def test_embedded_mode_generates_its_key_once_and_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an embedded deployment in an empty directory
    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url=None, redis_url=None)
    # When it starts twice
    first = bootstrap(settings)
    first.close()
    path = tmp_path / EMBEDDED_KEY_FILE
    written = path.read_text()
    second = bootstrap(settings)
    second.close()
    # Then one key was written, readable by its owner only, and reused
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == written
    assert len(secretbox.parse_key(written)) == 32
    assert first.secret_keys.current_id == second.secret_keys.current_id
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]


def test_production_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY is required"):
        bootstrap(Settings(database_url="postgresql://x@127.0.0.1/x", redis_url=None))
    with pytest.raises(ConfigurationError, match="32 bytes"):
        bootstrap(Settings(database_url="postgresql://x@127.0.0.1/x", secret_key="short"))
