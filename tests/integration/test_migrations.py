"""The schema is only what the migrations make: upgrade, compare, downgrade, upgrade."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.adapters import database, migrate, tables

T = TypeVar("T")

#: What the schema holds, written out by hand: a table dropped from both the models and the
#: migrations would not show in a comparison of the two.
EXPECTED_TABLES = {
    "tenants",
    "api_keys",
    "wallets",
    "ledger_entries",
    "orders",
    "recipients",
    "fonts",
    "events",
    "outbox",
    "job_runs",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "webhook_manual_sends",
}
#: Rules the database itself enforces (tests/integration/test_ledger_constraints.py sends
#: raw SQL against some of them).
EXPECTED_CHECKS = {
    ("wallets", "ck_wallets_available_not_negative"),
    ("wallets", "ck_wallets_held_not_negative"),
    ("ledger_entries", "ck_ledger_entries_amount_positive"),
    ("ledger_entries", "ck_ledger_entries_kind"),
    ("orders", "ck_orders_status"),
    ("webhook_deliveries", "ck_webhook_deliveries_status"),
}
EXPECTED_UNIQUES = {
    ("api_keys", "uq_api_keys_key_hash"),
    ("wallets", "uq_wallets_tenant_id_mode"),
    ("ledger_entries", "uq_ledger_entries_key"),
    ("events", "uq_events_key"),
    ("webhook_deliveries", "uq_webhook_deliveries_key"),
    ("webhook_attempts", "uq_webhook_attempts_delivery_id_number"),
}
MIGRATION_FILES = sorted((migrate.MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))

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


def _inspect(url: str, look: Callable[[sa.Inspector], T]) -> T:
    """`look` at the database's schema through a fresh inspector."""
    engine = database.create_engine(migrate_url(url), pool_size=1)
    try:
        return look(sa.inspect(engine))
    finally:
        engine.dispose()


def _table_names(url: str) -> set[str]:
    return _inspect(url, lambda i: set(i.get_table_names()) - {"alembic_version"})


@dataclass(frozen=True)
class Reflected:
    """One table as the database reports it."""

    columns: dict[str, bool]  # name: nullable
    pk: set[str]
    indexes: set[str | None]
    uniques: set[str | None]
    checks: set[str | None]
    fks: set[tuple[tuple[str, ...], str]]

    @classmethod
    def of(cls, i: sa.Inspector, name: str) -> Reflected:
        return cls(
            columns={c["name"]: c["nullable"] for c in i.get_columns(name)},
            pk=set(i.get_pk_constraint(name)["constrained_columns"]),
            indexes={ix["name"] for ix in i.get_indexes(name)},
            uniques={u["name"] for u in i.get_unique_constraints(name)},
            checks={c["name"] for c in i.get_check_constraints(name)},
            fks={
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in i.get_foreign_keys(name)
            },
        )


def _version(url: str) -> list[str]:
    engine = database.create_engine(migrate_url(url), pool_size=1)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(sa.text("SELECT version_num FROM alembic_version")))
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


def test_head_is_the_last_migration_file_and_the_chain_is_unbroken() -> None:
    # Given the files in migrations/versions, numbered in order
    names = [p.name for p in MIGRATION_FILES]
    assert names[-1].startswith("0006_"), names

    # When Alembic reads them
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))

    # Then its single head is the last file's revision, and each revision's parent is the
    # file before it
    assert script.get_heads() == ["0006"]
    chain = [rev.revision for rev in script.walk_revisions("base", "heads")]
    assert chain == [f"{n:04d}" for n in range(len(MIGRATION_FILES), 0, -1)]
    for rev in script.walk_revisions("base", "heads"):
        expected_parent = None if rev.revision == "0001" else f"{int(rev.revision) - 1:04d}"
        assert rev.down_revision == expected_parent, rev.revision


def test_upgrade_makes_every_table_column_index_and_constraint(empty_url: str) -> None:
    # Given an empty database, when it is upgraded to head
    migrate.upgrade(empty_url)
    metadata = tables.Base.metadata
    postgres = empty_url.startswith("postgresql")

    # Then it stands at head, with exactly the expected tables, which are the models' tables
    assert _version(empty_url) == ["0006"]
    assert _table_names(empty_url) == EXPECTED_TABLES == set(metadata.tables)

    def schema(i: sa.Inspector) -> dict[str, Reflected]:
        return {name: Reflected.of(i, name) for name in EXPECTED_TABLES}

    found = _inspect(empty_url, schema)
    for name, table in metadata.tables.items():
        got = found[name]
        # And every model column exists with the model's nullability, and the same primary key
        assert got.columns == {c.name: c.nullable for c in table.columns}, name
        assert got.pk == {c.name for c in table.primary_key.columns}, name
        # And every model index exists (unique ones may reflect as unique constraints)
        named = got.indexes | got.uniques
        for index in table.indexes:
            assert index.name in named, (name, index.name)
        # And every foreign key points where the model says
        fks = {
            (tuple(c.name for c in fk.columns), fk.referred_table.name)
            for fk in table.foreign_key_constraints
        }
        assert got.fks == fks, name
    # And the database refuses what must never happen: the named CHECKs and unique keys
    checks = {(name, ck) for name, t in found.items() for ck in t.checks}
    uniques = {(name, uq) for name, t in found.items() for uq in t.uniques}
    assert checks >= EXPECTED_CHECKS
    assert uniques >= EXPECTED_UNIQUES
    model_checks = {
        (t.name, str(c.name))
        for t in metadata.tables.values()
        for c in t.constraints
        if isinstance(c, sa.CheckConstraint)
    }
    assert checks == model_checks

    # When it is downgraded to base
    migrate.downgrade(empty_url, "base")

    # Then no table, index or version is left
    assert _table_names(empty_url) == set()
    assert _version(empty_url) == []
    if postgres:
        with psycopg.connect(empty_url) as conn:
            left = conn.execute(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND relname NOT LIKE 'alembic_version%'"
            ).fetchall()
        assert left == []

    # And upgrading again gives the same schema
    migrate.upgrade(empty_url)
    assert _version(empty_url) == ["0006"]
    assert _inspect(empty_url, schema) == found
