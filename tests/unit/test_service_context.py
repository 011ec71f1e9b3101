"""Services receive what they use: a declared context, never the composition root."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from engine.adapters import tables
from engine.adapters.unit_of_work import UnitOfWork
from engine.bootstrap import bootstrap
from engine.services import fonts
from engine.settings import Settings
from tests.conftest import TEST_SECRET_KEY

SERVICES = Path(__file__).resolve().parents[2] / "engine" / "services"


def test_no_service_imports_the_composition_root_or_patches_the_app() -> None:
    # Given every service module
    found = []
    for path in sorted(SERVICES.glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            # When it is searched for the root, or for state hung on the app at run time
            if re.search(r"engine\.bootstrap|app\.__dict__|setattr\(app|app\._\w+\s*=", line):
                found.append(f"{path.name}:{number}: {line.strip()}")
    # Then none does
    assert found == []


def test_a_component_is_built_once_per_app_and_closed_with_it(tmp_path: Path) -> None:
    # Given two apps (two processes' worth of state)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        secret_key=TEST_SECRET_KEY,
        storage_dir=tmp_path,
    )
    first, second = bootstrap(settings), bootstrap(settings)
    closed: list[str] = []

    class Writer:
        def __init__(self, name: str) -> None:
            self.name = name

        def close(self) -> None:
            closed.append(self.name)

    # When each asks for its writer twice
    a1 = first.component(Writer, lambda: Writer("first"))
    a2 = first.component(Writer, lambda: Writer("again"))
    b1 = second.component(Writer, lambda: Writer("second"))

    # Then each app built one, of its own, and closing an app closes its own
    assert a1 is a2 and a1 is not b1
    first.close()
    assert closed == ["first"]
    second.close()
    assert closed == ["first", "second"]
    # And their caches are their own too
    assert first.caches is not second.caches


def test_no_service_keeps_state_in_a_module_global() -> None:
    # Given every service module
    found = []
    for path in sorted(SERVICES.glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            # When it is searched for a function rebinding a module-level name
            if re.match(r"\s+global\s", line):
                found.append(f"{path.name}:{number}: {line.strip()}")
    # Then none does: per-process state is declared in Caches, one per app
    assert found == []


def test_the_default_font_is_cached_per_app(tmp_path: Path) -> None:
    # Given two apps, one of which has the catalogue's default font cached and fresh
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        secret_key=TEST_SECRET_KEY,
        storage_dir=tmp_path,
    )
    first, second = bootstrap(settings), bootstrap(settings)
    font_id = uuid.uuid4()
    first.caches.default_font = (time.monotonic() + 60, font_id)
    tenant = tables.Tenant(name="Acme", default_font_id=None)

    def no_database() -> UnitOfWork:
        raise AssertionError("a fresh cache needs no database")

    first.uow = no_database  # type: ignore[method-assign]
    # When an order without a handwriting style asks for its font
    # Then that app answers from its own cache, and the other app's cache is untouched
    assert fonts.resolve_for(first, tenant, None) == font_id
    assert fonts.resolve_for(first, tenant, "  ") == font_id
    assert second.caches.default_font is None
    first.close()
    second.close()
