"""Pages and windows: rows to skip, bounds and the `pagination` block, said once."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI

from api.paging import log_window_query, page_query
from engine.domain.paging import Page, Window, limit_problems
from engine.errors import FieldProblem


@pytest.mark.parametrize(
    ("page", "limit", "offset"), [(1, 25, 0), (2, 25, 25), (3, 2, 4), (1_000_000, 100, 99_999_900)]
)
def test_a_page_skips_the_pages_before_it(page: int, limit: int, offset: int) -> None:
    # Given page `page` of `limit` rows
    # Then it skips every row of the pages before it
    assert Page(page, limit).offset == offset


@pytest.mark.parametrize(
    ("total", "limit", "pages"), [(0, 25, 0), (1, 25, 1), (25, 25, 1), (26, 25, 2), (5, 2, 3)]
)
def test_total_pages_rounds_up_and_is_zero_for_nothing(total: int, limit: int, pages: int) -> None:
    assert Page(1, limit).total_pages(total) == pages


def test_a_page_builds_the_orders_pagination_block() -> None:
    # Given the second page of two rows out of five
    # When its block is built
    # Then it has the four fields 000 gives, in that order
    block = Page(2, 2).pagination(5)
    assert block == {"page": 2, "limit": 2, "total": 5, "total_pages": 3}
    assert list(block) == ["page", "limit", "total", "total_pages"]


def test_page_problems_name_each_field_out_of_bounds() -> None:
    assert Page(1, 100).problems(max_page=10, max_limit=100) == []
    assert Page(0, 101).problems(max_page=10, max_limit=100) == [
        FieldProblem("page", "page must be between 1 and 10"),
        FieldProblem("limit", "limit must be between 1 and 100"),
    ]
    assert Page(11, 0).problems(max_page=10, max_limit=100)[0].field == "page"


@pytest.mark.parametrize(
    ("offset", "shown", "total", "more"),
    [(0, 0, 0, False), (0, 2, 5, True), (3, 2, 5, False), (4, 1, 5, False), (10, 0, 5, False)],
)
def test_a_window_has_more_while_rows_remain_after_it(
    offset: int, shown: int, total: int, more: bool
) -> None:
    assert Window(2, offset).has_more(total, shown) is more


def test_a_window_builds_the_delivery_log_pagination_block() -> None:
    # Given a window of 2 rows skipping 2, showing 2 out of 5
    block = Window(2, 2).pagination(5, 2)
    # Then it has 001's four fields, in that order
    assert block == {"total": 5, "limit": 2, "offset": 2, "has_more": True}
    assert list(block) == ["total", "limit", "offset", "has_more"]


def test_window_problems_name_each_field_out_of_bounds() -> None:
    assert Window(100, 0).problems(max_limit=100, max_offset=10) == []
    assert Window(0, -1).problems(max_limit=100, max_offset=10) == [
        FieldProblem("limit", "limit must be between 1 and 100"),
        FieldProblem("offset", "offset must be between 0 and 10"),
    ]
    assert [p.field for p in Window(5, 11).problems(max_limit=100, max_offset=10)] == ["offset"]


def test_limit_problems_alone() -> None:
    assert limit_problems(500, 500) == []
    assert limit_problems(501, 500) == [FieldProblem("limit", "limit must be between 1 and 500")]


def test_the_api_dependencies_document_their_query_and_build_the_value() -> None:
    # Given a tiny app whose routes take each dependency
    app = FastAPI()

    @app.get("/pages")
    def pages(p: Page = Depends(page_query)) -> None: ...

    @app.get("/windows")
    def windows(w: Window = Depends(log_window_query)) -> None: ...

    # When its OpenAPI document is read
    def query(path: str) -> dict[str, object]:
        params = app.openapi()["paths"][path]["get"]["parameters"]
        return {p["name"]: p["schema"]["default"] for p in params if p["in"] == "query"}

    # Then the parameters and defaults are 000's (page 1 of 25) and 001's (50 from 0)
    assert query("/pages") == {"page": 1, "limit": 25}
    assert query("/windows") == {"limit": 50, "offset": 0}
    # And the values pass through unchanged (the engine checks the bounds)
    assert page_query(page=3, limit=7) == Page(3, 7)
    assert log_window_query(limit=7, offset=14) == Window(7, 14)
