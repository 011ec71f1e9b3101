"""Small SQL helpers that read the same on Postgres and SQLite."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_conflict(
    session: Session, table: sa.Table, values: dict[str, Any], conflict_on: list[str]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when a row was written."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = (
        module.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_on)
        # rowcount is -1 when the dialect adds RETURNING for a server-made key (events.seq),
        # so ask for the row back instead: none means the conflict won.
        .returning(sa.literal(1))
    )
    return session.execute(stmt).first() is not None
