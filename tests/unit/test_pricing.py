"""What an order costs and the words that explain it (engine/domain/pricing.py), no I/O."""

from __future__ import annotations

import pytest

from engine.domain import money, pricing
from engine.domain.statuses import EnvelopeType, PaperType, ProductType

PRICES = pricing.PriceList()


def quote(
    count: int,
    product: ProductType = ProductType.LETTER,
    paper: PaperType = PaperType.STANDARD,
    envelope: EnvelopeType = EnvelopeType.STANDARD,
    prices: pricing.PriceList = PRICES,
) -> pricing.Quote:
    return pricing.quote(prices, product=product, paper=paper, envelope=envelope, count=count)


# --- descriptions ---------------------------------------------------------------------


def test_one_letter_reads_like_the_reference() -> None:
    q = quote(1)

    assert q.description() == "1 letter x $1.99 + 1 envelope x $0.99 = $2.98"
    assert q.total_cents == 298


def test_two_letters_are_plural() -> None:
    q = quote(2)

    assert q.description() == "2 letters x $1.99 + 2 envelopes x $0.99 = $5.96"
    assert q.total_cents == 596


def test_one_card() -> None:
    q = quote(1, ProductType.CARD)

    assert q.description() == "1 card x $2.49 + 1 envelope x $0.99 = $3.48"
    assert q.total_cents == 348


def test_three_cards_are_plural() -> None:
    assert quote(3, ProductType.CARD).description() == (
        "3 cards x $2.49 + 3 envelopes x $0.99 = $10.44"
    )


def test_one_postcard_has_no_envelope_line() -> None:
    q = quote(1, ProductType.POSTCARD, envelope=EnvelopeType.NONE)

    assert q.description() == "1 postcard x $1.49 = $1.49"
    assert q.total_cents == 149
    assert q.envelopes == 0


def test_two_postcards_are_plural() -> None:
    assert quote(2, ProductType.POSTCARD, envelope=EnvelopeType.NONE).description() == (
        "2 postcards x $1.49 = $2.98"
    )


def test_a_postcard_never_carries_an_envelope_even_if_asked() -> None:
    # `quote` promises "postcards never carry an envelope"
    q = quote(1, ProductType.POSTCARD, envelope=EnvelopeType.STANDARD)

    assert q.description() == "1 postcard x $1.49 = $1.49"
    assert q.envelopes == 0
    assert q.total_cents == 149


def test_a_letter_without_an_envelope() -> None:
    q = quote(1, envelope=EnvelopeType.NONE)

    assert q.description() == "1 letter x $1.99 = $1.99"
    assert q.envelopes == 0


def test_premium_paper_adds_an_upgrade_line() -> None:
    q = quote(1, paper=PaperType.PREMIUM)

    assert q.description() == (
        "1 letter x $1.99 + 1 envelope x $0.99 + 1 premium paper upgrade x $0.50 = $3.48"
    )
    assert q.total_cents == 348


def test_premium_paper_upgrades_are_plural() -> None:
    assert quote(2, paper=PaperType.PREMIUM).description() == (
        "2 letters x $1.99 + 2 envelopes x $0.99 + 2 premium paper upgrades x $0.50 = $6.96"
    )


def test_premium_postcard() -> None:
    q = quote(1, ProductType.POSTCARD, PaperType.PREMIUM, EnvelopeType.NONE)

    assert q.description() == "1 postcard x $1.49 + 1 premium paper upgrade x $0.50 = $1.99"


def test_a_hundred_letters_use_thousands_separators() -> None:
    assert quote(100, ProductType.CARD, PaperType.PREMIUM).description() == (
        "100 cards x $2.49 + 100 envelopes x $0.99 + 100 premium paper upgrades x $0.50 = $398.00"
    )
    assert quote(400, ProductType.CARD).description().endswith("= $1,392.00")


def test_a_tenant_price_list_is_used() -> None:
    prices = pricing.PriceList(per_letter_cost_cents=250, per_envelope_cost_cents=10)

    q = quote(1, prices=prices)

    assert q.description() == "1 letter x $2.50 + 1 envelope x $0.10 = $2.60"
    assert q.total_cents == 260


# --- the cost_breakdown block ---------------------------------------------------------


def test_breakdown_of_two_letters() -> None:
    assert quote(2).breakdown() == {
        "letter_cost_cents": 199,
        "envelope_cost_cents": 99,
        "total_letters": 2,
        "total_envelopes": 2,
        "subtotal_cents": 596,
        "description": "2 letters x $1.99 + 2 envelopes x $0.99 = $5.96",
        "items": [
            {"item": "letter", "quantity": 2, "unit_cents": 199, "total_cents": 398},
            {"item": "envelope", "quantity": 2, "unit_cents": 99, "total_cents": 198},
        ],
    }


def test_breakdown_of_a_postcard_has_no_envelope() -> None:
    b = quote(1, ProductType.POSTCARD, envelope=EnvelopeType.NONE).breakdown()

    assert b["letter_cost_cents"] == 149
    assert b["envelope_cost_cents"] == 0
    assert b["total_envelopes"] == 0
    assert b["subtotal_cents"] == 149
    assert [i["item"] for i in b["items"]] == ["postcard"]  # type: ignore[attr-defined]


def test_breakdown_lists_the_premium_upgrade() -> None:
    b = quote(3, ProductType.CARD, PaperType.PREMIUM).breakdown()

    assert b["items"] == [
        {"item": "card", "quantity": 3, "unit_cents": 249, "total_cents": 747},
        {"item": "envelope", "quantity": 3, "unit_cents": 99, "total_cents": 297},
        {"item": "premium_paper", "quantity": 3, "unit_cents": 50, "total_cents": 150},
    ]
    assert b["subtotal_cents"] == 747 + 297 + 150


@pytest.mark.parametrize(
    ("product", "unit"),
    [(ProductType.LETTER, 199), (ProductType.CARD, 249), (ProductType.POSTCARD, 149)],
)
def test_unit_cost_per_product(product: ProductType, unit: int) -> None:
    assert PRICES.unit_cost_cents(product) == unit


# --- money formatting -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "$0.00"),
        (1, "$0.01"),
        (5, "$0.05"),
        (10, "$0.10"),
        (99, "$0.99"),
        (100, "$1.00"),
        (199, "$1.99"),
        (99_999, "$999.99"),
        (100_000, "$1,000.00"),
        (123_456_789, "$1,234,567.89"),
        (-250, "-$2.50"),
        (-5, "-$0.05"),
    ],
)
def test_format_usd(cents: int, text: str) -> None:
    assert money.format_usd(cents) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 letters"), (1, "1 letter"), (2, "2 letters"), (100, "100 letters")],
)
def test_plural(count: int, text: str) -> None:
    assert money.plural(count, "letter") == text


def test_plural_with_an_irregular_form() -> None:
    assert money.plural(1, "premium paper upgrade", "premium paper upgrades") == (
        "1 premium paper upgrade"
    )
    assert money.plural(2, "box", "boxes") == "2 boxes"


def test_the_ledger_kinds_are_the_ones_the_database_accepts() -> None:
    # Given the kinds the code names and the CHECK the table declares
    from engine.adapters import tables
    from engine.domain.money import LedgerKind

    checks = [
        str(c.sqltext)
        for c in tables.LedgerEntry.__table__.constraints
        if getattr(c, "name", "") and str(c.name).endswith("kind")
    ]
    # Then they list the same values
    [check] = checks
    assert sorted(check.split("(")[1].rstrip(")").replace("'", "").split(", ")) == sorted(
        k.value for k in LedgerKind
    )
