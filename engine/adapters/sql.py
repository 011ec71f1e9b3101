"""Small SQL helpers that read the same on Postgres and SQLite.

The hot inserts are written as text: SQLAlchemy does not cache the compiled form of the
dialects' `insert().on_conflict_…()` constructs, so building and compiling one cost more
than running it, for every event, delivery, attempt and job record. `ON CONFLICT` reads
the same in both databases; the bind parameters keep the table's column types, so values
are converted exactly as an ORM insert would convert them.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session


def insert_ignoring_conflict(
    session: Session, table: sa.Table, values: dict[str, Any], conflict_on: list[str]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when a row was written.

    Columns left out of `values` get the table's Python-side defaults."""
    row = with_defaults(table, values)
    stmt = _insert_ignoring(table, tuple(row), tuple(conflict_on))
    return session.execute(stmt, row).first() is not None


@functools.cache
def _insert_ignoring(
    table: sa.Table, columns: tuple[str, ...], conflict_on: tuple[str, ...]
) -> sa.TextClause:
    conflict = ", ".join(_quoted(c) for c in conflict_on)
    # RETURNING rather than rowcount: none back means the conflict won.
    return insert_text(table, columns, f"ON CONFLICT ({conflict}) DO NOTHING RETURNING 1")


@functools.cache
def insert_text(table: sa.Table, columns: tuple[str, ...], tail: str = "") -> sa.TextClause:
    """`INSERT INTO table (columns) VALUES (:columns) tail`, typed like the table's columns;
    built once per shape. Execute it with one row's values, or a list of rows."""
    names = ", ".join(_quoted(c) for c in columns)
    marks = ", ".join(f":{c}" for c in columns)
    return sa.text(f"INSERT INTO {table.name} ({names}) VALUES ({marks}) {tail}").bindparams(
        *(sa.bindparam(c, type_=table.c[c].type) for c in columns)
    )


def with_defaults(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the table's Python-side scalar and callable defaults filled in."""
    row = dict(values)
    for column in table.columns:
        default = column.default
        if column.key in row or default is None:
            continue
        if default.is_scalar:
            row[column.key] = default.arg  # type: ignore[attr-defined]
        elif default.is_callable:
            # SQLAlchemy wraps a no-argument function to take the execution context.
            row[column.key] = default.arg(None)  # type: ignore[attr-defined]
        else:  # a SQL expression or a sequence: not something a text insert can fill
            raise TypeError(f"{table.name}.{column.key}: default {default!r} cannot be filled")
    return row


def _quoted(name: str) -> str:
    return f'"{name}"'
