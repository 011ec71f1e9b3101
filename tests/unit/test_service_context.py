"""Services receive what they use: a declared context, never the composition root."""

from __future__ import annotations

import re
from pathlib import Path

from engine.bootstrap import bootstrap
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
