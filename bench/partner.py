"""What the bench sends as a partner would: its paths, an order body, a tenant's key."""

from __future__ import annotations

import json
from dataclasses import dataclass

ORDERS_PATH = "/api/v1/partner/orders"
WEBHOOKS_PATH = "/api/v1/partner/webhooks"

RECIPIENT = {
    "first_name": "Ann",
    "last_name": "Lee",
    "address_line1": "1 Main St",
    "city": "Austin",
    "state": "TX",
    "zip": "78701",
}


def order_body(recipients: int = 1) -> bytes:
    """A letter order to `recipients` people (different names, one valid address)."""
    people = [{**RECIPIENT, "first_name": f"Ann{i}"} for i in range(recipients)]
    return json.dumps(
        {"message_body": "Dear {{first_name}},\n\nThank you!\n", "recipients": people}
    ).encode()


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}
