"""`make demo`: Inkwell end to end on the embedded default (SQLite, in-process broker).

Starts the embedded server, a local webhook receiver that verifies every signature,
creates a tenant and an endpoint, submits a batch of orders (a few with invalid
recipients), shows their progress, and prints what happened.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import logging
import shutil
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from api.app import create_app
from api.serve import ServerThread, free_port
from engine.adapters import migrate, secretbox
from engine.bootstrap import bootstrap
from engine.domain import signing
from engine.domain.statuses import Mode
from engine.services import fulfilment, tenants
from engine.settings import Settings

DEMO_DIR = Path("var/demo")
FINAL_EVENTS = ("order.in_production", "order.failed", "order.cancelled")
PEOPLE = [
    ("Ada", "Lovelace", "12 St James's Sq", "New York", "NY", "10001"),
    ("Alan", "Turing", "78 High St", "Austin", "TX", "78701"),
    ("Grace", "Hopper", "1600 Pennsylvania Ave NW", "Washington", "DC", "20500"),
    ("Katherine", "Johnson", "300 E St SW", "Hampton", "VA", "23666-1234"),
    ("Edsger", "Dijkstra", "500 Market St", "San Francisco", "CA", "94102"),
]


class Receiver:
    """The partner's endpoint: verifies both signatures on everything it receives."""

    def __init__(self) -> None:
        self.secret = ""
        self.received: list[dict[str, Any]] = []
        self.port = free_port()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.check(headers, body)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def check(self, headers: dict[str, str], body: bytes) -> None:
        try:
            payload = Webhook(self.secret).verify(body, headers)
            standard = True
        except WebhookVerificationError:
            payload, standard = {}, False
        expected = hmac.new(signing.key_bytes(self.secret), body, hashlib.sha256).hexdigest()
        # 000's verifier: hex HMAC of the raw body keyed with the secret string as returned.
        premier = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        self.received.append(
            {
                "event": headers.get("x-webhook-event"),
                "standard_ok": standard,
                "sha256_ok": hmac.compare_digest(
                    headers.get("x-signature-256", ""), f"sha256={expected}"
                ),
                "premier_ok": hmac.compare_digest(headers.get("x-premier-signature", ""), premier),
                "order_id": payload.get("data", {}).get("order_id"),
            }
        )


def _person(i: int, **extra: object) -> dict[str, object]:
    first, last, line1, city, state, zip_code = PEOPLE[i % len(PEOPLE)]
    return {
        "first_name": first,
        "last_name": last,
        "address_line1": line1,
        "city": city,
        "state": state,
        "zip": zip_code,
        "custom_fields": {"product": "fountain pen"},
        **extra,
    }


BATCH: list[tuple[str, dict[str, object]]] = [
    ("3 letters", {"recipients": [_person(0), _person(1), _person(2)]}),
    ("1 premium card", {"product_type": "card", "paper_type": "premium"}),
    ("2 postcards", {"product_type": "postcard", "recipients": [_person(3), _person(4)]}),
    (
        "skip 1 bad ZIP",
        {"skip_invalid": True, "recipients": [_person(1), _person(2, zip="ABC")]},
    ),
    ("bad state+ZIP", {"recipients": [_person(0, state="XX", zip="1234")]}),
    ("50 letters", {"recipients": [_person(i) for i in range(50)]}),
    ("100 more letters", {"recipients": [_person(i) for i in range(100)]}),
    ("mail in 3 days", {"send_date": "+3d"}),
]


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    logging.basicConfig(level=logging.WARNING, format="[log] %(name)s: %(message)s")
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    settings = Settings(
        database_url=f"sqlite:///{DEMO_DIR / 'inkwell.sqlite3'}",
        redis_url=None,
        # A SQLite URL is given, so the key is not generated for us: keep one beside it.
        secret_key=secretbox.load_or_create_key_file(DEMO_DIR / "secret_key"),
        storage_dir=DEMO_DIR / "storage",
        # The demo skips the free-cancellation window (default 5 min) so orders confirm now.
        order_cancel_window_s=0,
        webhook_allow_private_targets=True,
        events_settle_s=0,
    )
    print("== Inkwell demo: embedded mode (SQLite + in-process broker; not for production)")
    migrate.upgrade(settings.effective_database_url)
    app = bootstrap(settings)
    made = tenants.create_tenant(app, name="Demo Partner", credits_cents=20_000, mode=Mode.TEST)
    print(f"Tenant {made.tenant_id}: $200.00 test credit, key {made.api_key[:12]}...")
    receiver = Receiver()
    server = ServerThread(create_app(app, background=True)).start()
    time.sleep(0.2)  # let the startup log line print before the demo's own output
    headers = {"Authorization": f"Bearer {made.api_key}"}
    exit_code = 0
    try:
        with httpx.Client(base_url=server.url + "/api/v1/partner", headers=headers) as c:
            hook = c.post("/webhooks", json={"url": f"http://127.0.0.1:{receiver.port}/hooks"})
            receiver.secret = hook.json()["webhook"]["secret"]
            print(
                f"Webhook endpoint {hook.json()['webhook']['id']} -> receiver on :{receiver.port}"
            )
            print("\n-- Submitting orders")
            accepted: dict[str, str] = {}
            for label, extra in BATCH:
                body = {
                    "message_body": "Dear {{first_name}},\n\nThank you for choosing our "
                    "{{product}}. It was a pleasure to write to you.\n\nWarmly,\nInkwell",
                    "recipients": [_person(0)],
                    **extra,
                }
                if body.get("send_date") == "+3d":
                    body["send_date"] = (datetime.now(UTC) + timedelta(days=3)).isoformat()
                r = c.post("/orders", json=body)
                data = r.json()
                if r.status_code == 201:
                    accepted[data["order"]["id"]] = label
                    breakdown = data["order"]["cost_breakdown"]["description"]
                    print(f"  {label:15} 201 {breakdown}")
                else:
                    problems = "; ".join(d["error"] for d in data.get("details", []))
                    if r.status_code == 402:
                        problems = (
                            f"costs {data['cost_cents']}, available {data['balance_cents']}, "
                            f"short {data['shortfall_cents']} cents"
                        )
                    print(f"  {label:15} {r.status_code} {data['error']}: {problems}")
            later = next(k for k, v in accepted.items() if v == "mail in 3 days")
            r = c.post(f"/orders/{later}/cancel")
            print(f"  cancel 'mail in 3 days' -> {r.status_code}: {r.json()['message']}")

            print("\n-- Progress")
            deadline = time.monotonic() + 60
            while True:
                statuses = {i: c.get(f"/orders/{i}").json()["order"]["status"] for i in accepted}
                counts = Counter(statuses.values())
                print("  " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
                done = all(s in ("processing", "failed", "cancelled") for s in statuses.values())
                # Each accepted order ends with one of these webhooks (after created/confirmed).
                last = sum(1 for r in receiver.received if r["event"] in FINAL_EVENTS)
                if (done and last >= len(accepted)) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)

            print("\n-- Production (the print shop reports back, as `inkwell orders …` does)")
            made_it = next((i for i, s in statuses.items() if s == "processing"), None)
            if made_it is not None:
                order_id = uuid.UUID(made_it)
                letters = [
                    uuid.UUID(r["id"])
                    for r in c.get(f"/orders/{made_it}").json()["order"]["recipients"]
                    if r["status"] == "rendered"
                ]
                steps = [
                    ("printed", fulfilment.record_printed(app, order_id)),
                    (
                        "mailed",
                        fulfilment.record_mailed(
                            app,
                            order_id,
                            {lid: f"9400100000000{n:09d}" for n, lid in enumerate(letters)},
                        ),
                    ),
                    ("delivered", fulfilment.record_delivered(app, order_id)),
                ]
                for what, progress in steps:
                    told = Counter(progress.events)
                    print(
                        f"  {what:9} -> {progress.status:9} "
                        + ", ".join(f"{e} x{n}" for e, n in told.items())
                    )
                # Deliveries are not ordered: wait for every one these reports started.
                expected = sum(len(progress.events) for _, progress in steps)
                later = {e for _, progress in steps for e in progress.events}
                deadline = time.monotonic() + 30
                while (
                    time.monotonic() < deadline
                    and sum(1 for r in receiver.received if r["event"] in later) < expected
                ):
                    time.sleep(0.2)
                counts = Counter(c.get(f"/orders/{i}").json()["order"]["status"] for i in accepted)

            print("\n-- Summary")
            print("Orders by status: " + ", ".join(f"{s}={n}" for s, n in sorted(counts.items())))
            for order_id, label in accepted.items():
                o = c.get(f"/orders/{order_id}").json()["order"]
                skipped = [r for r in o["recipients"] if r["status"] == "invalid"]
                note = f"  skipped: {skipped[0]['invalid_reason']}" if skipped else ""
                print(
                    f"  {order_id}  {label:15} {o['status']:10} {o['letter_count']:>3} letters"
                    f"  {o['total_cents']:>6} cents{note}"
                )
            events = Counter(r["event"] for r in receiver.received)
            verified = sum(
                1
                for r in receiver.received
                if r["standard_ok"] and r["sha256_ok"] and r["premier_ok"]
            )
            print(
                f"Webhooks received: {len(receiver.received)} "
                f"({', '.join(f'{e} x{n}' for e, n in sorted(events.items()))}); "
                f"signatures verified (Standard, X-Signature-256, X-Premier-Signature): "
                f"{verified}/{len(receiver.received)}"
            )
            logs = c.get("/webhook-logs", params={"limit": 100}).json()
            print(
                "Delivery log: "
                + ", ".join(
                    f"{s}={n}" for s, n in Counter(d["status"] for d in logs["deliveries"]).items()
                )
            )
            pdfs = sorted((settings.storage_dir / "orders").rglob("*.pdf"))
            print(f"PDFs written: {len(pdfs)} under {settings.storage_dir / 'orders'}")
            for path in pdfs[:5]:
                print(f"  {path}  ({path.stat().st_size} bytes)")
            if len(pdfs) > 5:
                print(f"  ... and {len(pdfs) - 5} more")
            balance = c.get("/balance").json()
            print(
                f"Balance: {balance['balance_cents']} cents available, "
                f"{balance['held_cents']} held, ledger total {balance['ledger_balance_cents']}"
            )
            if verified != len(receiver.received) or not pdfs:
                exit_code = 1
    finally:
        server.stop()
        receiver.server.shutdown()
        app.close()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
