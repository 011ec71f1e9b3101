"""Shared fixtures: a fresh Postgres database per test (copied from a migrated template),
a migrated SQLite file per test, our app served over real HTTP, and tenants with keys."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from api.app import create_app
from api.serve import ServerThread
from engine.adapters import migrate
from engine.bootstrap import Inkwell, bootstrap
from engine.domain.statuses import Mode
from engine.services import tenants
from engine.settings import Settings

PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PARTNER = "/api/v1/partner"


def _pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{name}"


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"inkwell_tmpl_{os.getpid()}"
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _admin(f"CREATE DATABASE {name}")
    migrate.upgrade(_pg_url(name))
    yield name
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated Postgres database for this test alone."""
    name = f"inkwell_t_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    yield _pg_url(name)
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated SQLite file for this test alone."""
    path = tmp_path / "inkwell.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


#: Encrypts webhook secrets at rest in tests (production refuses to start without one).
TEST_SECRET_KEY = "dGVzdC1vbmx5LWtleS1mb3ItaW5rd2VsbC10ZXN0cy0="


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "redis_url": None,
        "storage_dir": tmp_path / "storage",
        "secret_key": TEST_SECRET_KEY,
        "webhook_allow_private_targets": True,
        # Exact auth semantics in tests (a key changed in the database counts at once);
        # the cache itself has its own test.
        "auth_cache_s": 0,
        "tenant_cache_s": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def inkwell(pg_url: str, tmp_path: Path) -> Iterator[Inkwell]:
    """An Inkwell on this test's own Postgres database."""
    app = bootstrap(make_settings(pg_url, tmp_path))
    yield app
    app.close()


MakeInkwell = Callable[..., Inkwell]


@pytest.fixture
def make_inkwell(pg_url: str, tmp_path: Path) -> Iterator[MakeInkwell]:
    """Build Inkwells on this test's own Postgres database with settings overridden
    (`make_inkwell(order_cancel_window_s=0)`); each is closed when the test ends."""
    made: list[Inkwell] = []

    def make(**overrides: object) -> Inkwell:
        app = bootstrap(make_settings(pg_url, tmp_path, **overrides))
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


@pytest.fixture(params=["postgres", "sqlite"])
def any_inkwell(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Inkwell]:
    """The same test on Postgres and on SQLite (the embedded default)."""
    fixture = "pg_url" if request.param == "postgres" else "sqlite_url"
    url = request.getfixturevalue(fixture)
    app = bootstrap(make_settings(url, tmp_path))
    yield app
    app.close()


@contextlib.contextmanager
def serve(app: Inkwell) -> Iterator[httpx.Client]:
    """Our app on `app`, served by uvicorn on a loopback port; a client of its partner API."""
    server = ServerThread(create_app(app)).start()
    try:
        with httpx.Client(base_url=server.url + PARTNER, timeout=30) as client:
            yield client
    finally:
        server.stop()


@pytest.fixture
def client(inkwell: Inkwell) -> Iterator[httpx.Client]:
    """An HTTP client for our app served by uvicorn on a loopback port (Postgres)."""
    with serve(inkwell) as c:
        yield c


@pytest.fixture
def any_client(any_inkwell: Inkwell) -> Iterator[httpx.Client]:
    """As `client`, once on Postgres and once on SQLite."""
    with serve(any_inkwell) as c:
        yield c


@dataclass(frozen=True)
class TenantHandle:
    id: uuid.UUID
    key: str
    key_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


MakeTenant = Callable[..., TenantHandle]


def tenant_factory(app: Inkwell) -> MakeTenant:
    def make(
        credits_cents: int = 100_000,
        mode: Mode = Mode.TEST,
        name: str = "Acme",
        cancel_window_s: int | None = None,
    ) -> TenantHandle:
        made = tenants.create_tenant(
            app, name=name, credits_cents=credits_cents, mode=mode, cancel_window_s=cancel_window_s
        )
        return TenantHandle(made.tenant_id, made.api_key, made.key_id)

    return make


@pytest.fixture
def make_tenant(inkwell: Inkwell) -> MakeTenant:
    """Create tenants (with wallets and a full-scope key) on this test's database."""
    return tenant_factory(inkwell)


@pytest.fixture
def any_make_tenant(any_inkwell: Inkwell) -> MakeTenant:
    return tenant_factory(any_inkwell)


def recipient(**overrides: object) -> dict[str, object]:
    """A valid US recipient; override any field."""
    base: dict[str, object] = {
        "first_name": "John",
        "last_name": "Doe",
        "address_line1": "456 Oak Ave",
        "address_line2": "Suite 100",
        "city": "Los Angeles",
        "state": "CA",
        "zip": "90001",
        "country": "US",
        "custom_fields": {"company": "Acme Inc"},
    }
    base.update(overrides)
    return base


def order_body(n: int = 1, **overrides: object) -> dict[str, object]:
    """A valid order for `n` recipients; override any top-level field."""
    body: dict[str, object] = {
        "message_body": "Dear {{first_name}},\n\nThank you for your business!\n\nBest regards",
        "product_type": "letter",
        "paper_type": "standard",
        "envelope_type": "standard",
        "recipients": [recipient(first_name=f"Person{i}") for i in range(n)],
    }
    body.update(overrides)
    return body
