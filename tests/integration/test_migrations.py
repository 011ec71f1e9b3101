"""The schema is only what the migrations make: upgrade, compare, downgrade, upgrade."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.adapters import database, migrate, tables

PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["postgres", "sqlite"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    name = f"inkwell_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


def _diff(url: str) -> list[object]:
    engine = database.create_engine(migrate_url(url), pool_size=1)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), tables.Base.metadata))
    finally:
        engine.dispose()


def migrate_url(url: str) -> str:
    from engine.settings import normalise_database_url

    return normalise_database_url(url)


def _table_names(url: str) -> set[str]:
    engine = database.create_engine(migrate_url(url), pool_size=1)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_matches_models_and_round_trips(empty_url: str) -> None:
    # Given an empty database, when it is upgraded to head
    migrate.upgrade(empty_url)

    # Then the models and the schema agree exactly
    assert _diff(empty_url) == []
    assert _table_names(empty_url) == set(tables.Base.metadata.tables)

    # And downgrading to base leaves nothing, and upgrading again works
    migrate.downgrade(empty_url, "base")
    assert _table_names(empty_url) == set()
    migrate.upgrade(empty_url)
    assert _diff(empty_url) == []


def test_font_catalogue_is_seeded(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    engine = database.create_engine(migrate_url(empty_url), pool_size=1)
    try:
        with engine.connect() as conn:
            names = conn.scalars(sa.select(tables.Font.name)).all()
            defaults = conn.scalar(
                sa.select(sa.func.count()).where(tables.Font.is_default.is_(True))
            )
    finally:
        engine.dispose()
    assert len(names) >= 5
    assert defaults == 1
