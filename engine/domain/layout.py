"""How much a merged message may hold: characters per product and pages per letter.

The page rule mirrors the letter renderer's (`engine/adapters/letter_pdf.py`: 78 characters
a line, 27 lines a page); a unit test keeps the two equal.
"""

from __future__ import annotations

import math
import textwrap

from engine.domain.statuses import ProductType

#: Characters a merged message may have, per product (letter: reference 001; card and
#: postcard: the space on one card face and one postcard back, our choice).
MAX_CHARS: dict[ProductType, int] = {
    ProductType.LETTER: 7500,
    ProductType.CARD: 1500,
    ProductType.POSTCARD: 500,
}
#: Pages a letter may run to.
MAX_LETTER_PAGES = 6
WRAP_CHARS = 78
LINES_PER_PAGE = 27


def page_count(message: str) -> int:
    """Pages the letter renderer draws for `message` (at least one)."""
    lines = sum(len(textwrap.wrap(p, WRAP_CHARS) or [""]) for p in message.splitlines() or [""])
    return max(1, math.ceil(lines / LINES_PER_PAGE))


def problem(message: str, product: ProductType) -> str | None:
    """Why a merged message does not fit `product`, or None when it does."""
    limit = MAX_CHARS[product]
    if len(message) > limit:
        return (
            f"message_too_long: the merged message has {len(message)} characters; "
            f"a {product.value} holds at most {limit}"
        )
    if product is ProductType.LETTER and (pages := page_count(message)) > MAX_LETTER_PAGES:
        return (
            f"message_too_long: the merged message fills {pages} pages; "
            f"a letter has at most {MAX_LETTER_PAGES}"
        )
    return None
