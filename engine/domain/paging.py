"""How lists are cut into pages, said once (DESIGN.md section 5).

Two shapes, both pinned by the references: numbered pages (`page`, `limit`; GET /orders,
000) and offset windows (`limit`, `offset`; 001's delivery logs). Each knows its rows to
skip, checks its own bounds and builds the `pagination` block its answers carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import FieldProblem


def limit_problems(limit: int, max_limit: int) -> list[FieldProblem]:
    """`limit` outside 1..`max_limit`, as a field problem."""
    if 1 <= limit <= max_limit:
        return []
    return [FieldProblem("limit", f"limit must be between 1 and {max_limit}")]


@dataclass(frozen=True)
class Page:
    """Page number `page` (the first is 1) of `limit` rows."""

    page: int = 1
    limit: int = 25

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.page - 1) * self.limit

    def total_pages(self, total: int) -> int:
        """Pages that `total` rows fill; 0 when there are none."""
        return (total + self.limit - 1) // self.limit if total else 0

    def problems(self, *, max_page: int, max_limit: int) -> list[FieldProblem]:
        """`page` outside 1..`max_page` and `limit` outside 1..`max_limit`."""
        found = []
        if not 1 <= self.page <= max_page:
            found.append(FieldProblem("page", f"page must be between 1 and {max_page}"))
        return found + limit_problems(self.limit, max_limit)

    def pagination(self, total: int) -> dict[str, Any]:
        """The answer's `pagination` block: `page, limit, total, total_pages`."""
        return {
            "page": self.page,
            "limit": self.limit,
            "total": total,
            "total_pages": self.total_pages(total),
        }


@dataclass(frozen=True)
class Window:
    """`limit` rows after skipping `offset`."""

    limit: int
    offset: int = 0

    def has_more(self, total: int, shown: int) -> bool:
        """Whether rows remain after the `shown` rows of this window."""
        return self.offset + shown < total

    def problems(self, *, max_limit: int, max_offset: int) -> list[FieldProblem]:
        """`limit` outside 1..`max_limit` and `offset` outside 0..`max_offset`."""
        found = limit_problems(self.limit, max_limit)
        if not 0 <= self.offset <= max_offset:
            found.append(FieldProblem("offset", f"offset must be between 0 and {max_offset}"))
        return found

    def pagination(self, total: int, shown: int) -> dict[str, Any]:
        """The answer's `pagination` block: `total, limit, offset, has_more`."""
        return {
            "total": total,
            "limit": self.limit,
            "offset": self.offset,
            "has_more": self.has_more(total, shown),
        }
