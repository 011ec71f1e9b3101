"""An order on its way in: prepared (checked and priced, nothing written) and created
(written with its hold). Shared by `orders`, which prepares and writes orders, and
`intake`, which batches the writes, so neither has to import the other for them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from engine.adapters import tables
from engine.services import wallet


@dataclass(frozen=True)
class CreatedOrder:
    order: tables.Order
    recipients: list[tables.Recipient]
    transaction_id: uuid.UUID
    balance: wallet.Balance


@dataclass(frozen=True)
class Prepared:
    """A validated, priced order ready to be written; nothing is in the database yet."""

    order: tables.Order
    recipients: list[tables.Recipient]

    @property
    def cost_cents(self) -> int:
        return self.order.total_cents
