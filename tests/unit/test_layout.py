"""The domain's page rule is the letter renderer's."""

from __future__ import annotations

import io

import pypdf

from engine.adapters import letter_pdf
from engine.domain import layout


def test_page_rule_matches_the_renderer() -> None:
    assert (layout.WRAP_CHARS, layout.LINES_PER_PAGE) == (
        letter_pdf.WRAP_CHARS,
        letter_pdf.LINES_PER_PAGE,
    )
    for message in ("Hi", "word " * 1500, "\n".join("line" for _ in range(100))):
        pdf = pypdf.PdfReader(io.BytesIO(letter_pdf.render(message, ["A", "B"], title="t")))
        assert len(pdf.pages) == layout.page_count(message)
