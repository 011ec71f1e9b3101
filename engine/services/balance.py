"""What a partner reads about its money: balance, pricing, how many letters it buys."""

from __future__ import annotations

from dataclasses import dataclass

from engine.services import tenants, wallet
from engine.services.context import Context
from engine.services.principals import Principal


@dataclass(frozen=True)
class BalanceReport:
    balance: wallet.Balance
    low_balance_alert_cents: int
    pricing_model: str
    per_letter_cost_cents: int
    per_envelope_cost_cents: int

    @property
    def estimated_letters_remaining(self) -> int:
        """`balance_cents // per_letter_cost_cents`, as 000 defines it (250000 // 199 = 1256).

        The balance is the one the answer shows as `balance_cents`: the available one.
        """
        unit = self.per_letter_cost_cents
        return self.balance.available_cents // unit if unit > 0 else 0


def read_balance(app: Context, principal: Principal) -> BalanceReport:
    with app.uow() as uow:
        tenant = tenants.get_tenant(uow.session, principal.tenant_id)
        row = wallet.get_wallet(uow.session, principal.tenant_id, principal.mode.value)
        return BalanceReport(
            balance=wallet.Balance(row.balance_cents, row.held_cents),
            low_balance_alert_cents=tenant.low_balance_alert_cents,
            pricing_model=tenant.pricing_model,
            per_letter_cost_cents=tenant.per_letter_cost_cents,
            per_envelope_cost_cents=tenant.per_envelope_cost_cents,
        )
