"""What an order costs, and the words that explain the sum."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.domain import money
from engine.domain.statuses import EnvelopeType, PaperType, ProductType


@dataclass(frozen=True)
class PriceList:
    """One tenant's prices, in cents per unit."""

    per_letter_cost_cents: int = 199
    per_card_cost_cents: int = 249
    per_postcard_cost_cents: int = 149
    per_envelope_cost_cents: int = 99
    premium_paper_surcharge_cents: int = 50

    def unit_cost_cents(self, product: ProductType) -> int:
        return {
            ProductType.LETTER: self.per_letter_cost_cents,
            ProductType.CARD: self.per_card_cost_cents,
            ProductType.POSTCARD: self.per_postcard_cost_cents,
        }[product]


@dataclass(frozen=True)
class LineItem:
    item: str
    quantity: int
    unit_cents: int
    label: str
    label_plural: str

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_cents

    def words(self) -> str:
        return (
            f"{money.plural(self.quantity, self.label, self.label_plural)} "
            f"x {money.format_usd(self.unit_cents)}"
        )


@dataclass(frozen=True)
class Quote:
    product: ProductType
    letters: int
    envelopes: int
    items: tuple[LineItem, ...]

    @property
    def total_cents(self) -> int:
        return sum(i.total_cents for i in self.items)

    def description(self) -> str:
        """`1 letter x $1.99 + 1 envelope x $0.99 = $2.98`."""
        parts = " + ".join(i.words() for i in self.items if i.quantity)
        return f"{parts} = {money.format_usd(self.total_cents)}"

    def breakdown(self) -> dict[str, object]:
        """The `cost_breakdown` block of an order, as in the reference API."""
        product_item = self.items[0]
        envelope_unit = next((i.unit_cents for i in self.items if i.item == "envelope"), 0)
        return {
            "letter_cost_cents": product_item.unit_cents,
            "envelope_cost_cents": envelope_unit,
            "total_letters": self.letters,
            "total_envelopes": self.envelopes,
            "subtotal_cents": self.total_cents,
            "description": self.description(),
            "items": [
                {
                    "item": i.item,
                    "quantity": i.quantity,
                    "unit_cents": i.unit_cents,
                    "total_cents": i.total_cents,
                }
                for i in self.items
                if i.quantity
            ],
        }


_PRODUCT_WORDS = {
    ProductType.LETTER: ("letter", "letters"),
    ProductType.CARD: ("card", "cards"),
    ProductType.POSTCARD: ("postcard", "postcards"),
}


def quote(
    prices: PriceList,
    *,
    product: ProductType,
    paper: PaperType,
    envelope: EnvelopeType,
    count: int,
) -> Quote:
    """Price `count` pieces of `product`; postcards never carry an envelope."""
    singular, plural_form = _PRODUCT_WORDS[product]
    items = [LineItem(product.value, count, prices.unit_cost_cents(product), singular, plural_form)]
    if product is ProductType.POSTCARD:
        envelope = EnvelopeType.NONE
    envelopes = count if envelope is EnvelopeType.STANDARD else 0
    if envelope is EnvelopeType.STANDARD:
        items.append(
            LineItem("envelope", count, prices.per_envelope_cost_cents, "envelope", "envelopes")
        )
    if paper is PaperType.PREMIUM:
        items.append(
            LineItem(
                "premium_paper",
                count,
                prices.premium_paper_surcharge_cents,
                "premium paper upgrade",
                "premium paper upgrades",
            )
        )
    return Quote(product=product, letters=count, envelopes=envelopes, items=tuple(items))


_ITEM_WORDS = {
    **{p.value: words for p, words in _PRODUCT_WORDS.items()},
    "envelope": ("envelope", "envelopes"),
    "premium_paper": ("premium paper upgrade", "premium paper upgrades"),
}


def requote(breakdown: Mapping[str, Any], count: int) -> Quote:
    """The same order for `count` pieces at the unit prices it was accepted at (so a hold
    that shrinks never depends on today's price list)."""
    items = []
    for item in breakdown["items"]:
        singular, plural_form = _ITEM_WORDS[item["item"]]
        items.append(LineItem(item["item"], count, int(item["unit_cents"]), singular, plural_form))
    product = ProductType(items[0].item)
    envelopes = count if any(i.item == "envelope" for i in items) else 0
    return Quote(product=product, letters=count, envelopes=envelopes, items=tuple(items))
