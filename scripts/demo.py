"""`make demo`: Inkwell end to end on the embedded default (SQLite), over real HTTP."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import httpx

from api.app import create_app
from api.serve import ServerThread
from engine.adapters import migrate
from engine.bootstrap import bootstrap
from engine.domain.statuses import Mode
from engine.services import tenants
from engine.settings import Settings

DEMO_DIR = Path("var/demo")


def main() -> int:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    settings = Settings(
        database_url=f"sqlite:///{DEMO_DIR / 'inkwell.sqlite3'}",
        redis_url=None,
        storage_dir=DEMO_DIR / "storage",
    )
    print(f"Embedded mode: SQLite at {DEMO_DIR / 'inkwell.sqlite3'} (not for production)")
    migrate.upgrade(settings.effective_database_url)
    app = bootstrap(settings)
    made = tenants.create_tenant(app, name="Demo Partner", credits_cents=2_000, mode=Mode.TEST)
    print(f"Tenant {made.tenant_id} with $20.00 of test credit; key {made.api_key[:12]}...")
    server = ServerThread(create_app(app)).start()
    headers = {"Authorization": f"Bearer {made.api_key}"}
    orders = [
        ("2 letters", {"recipients": [_person("Ada", "Lovelace"), _person("Alan", "Turing")]}),
        ("1 premium card", {"product_type": "card", "paper_type": "premium"}),
        ("1 postcard", {"product_type": "postcard"}),
        ("bad ZIP", {"recipients": [_person("Bad", "Zip", zip="ABC")]}),
        ("too expensive", {"recipients": [_person(f"P{i}", "X") for i in range(10)]}),
    ]
    try:
        with httpx.Client(base_url=server.url + "/api/v1/partner", headers=headers) as client:
            for label, extra in orders:
                body = {
                    "message_body": "Dear {{first_name}},\n\nThank you!\n\nInkwell",
                    "recipients": [_person("Grace", "Hopper")],
                    **extra,
                }
                r = client.post("/orders", json=body)
                answer = r.json()
                if r.status_code == 201:
                    o = answer["order"]
                    print(
                        f"  {label:14} -> {r.status_code} {o['status']:8} "
                        f"{o['cost_breakdown']['description']}"
                    )
                else:
                    print(
                        f"  {label:14} -> {r.status_code} {answer['error']}: "
                        f"{(answer.get('details') or [{}])[0].get('error', answer['message'])}"
                    )
            listing = client.get("/orders").json()
            print(f"Orders: {listing['pagination']['total']}")
            for o in listing["orders"]:
                print(
                    f"  {o['id']}  {o['status']:8} {o['letter_count']} x {o['product_type']:8}"
                    f" {o['total_cents']:>5} cents"
                )
            print("Balance:", json.dumps(client.get("/balance").json()))
    finally:
        server.stop()
        app.close()
    return 0


def _person(first: str, last: str, **extra: str) -> dict[str, str]:
    return {
        "first_name": first,
        "last_name": last,
        "address_line1": "1600 Pennsylvania Ave NW",
        "city": "Washington",
        "state": "DC",
        "zip": "20500",
        **extra,
    }


if __name__ == "__main__":
    sys.exit(main())
