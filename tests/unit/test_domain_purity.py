"""The domain is plain Python (DESIGN.md section 1, engine/domain/__init__.py): importing it
loads no database, HTTP, broker, web framework or imaging library."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import engine.domain

NAMED = [
    "engine.domain",
    "engine.domain.statuses",
    "engine.domain.money",
    "engine.domain.pricing",
    "engine.domain.scopes",
    "engine.domain.apikeys",
    "engine.domain.addresses",
    "engine.domain.orderform",
    "engine.domain.timestamps",
    "engine.domain.reasons",
    "engine.domain.send_failures",
    "engine.domain.delivery_outcome",
    "engine.domain.redact",
    "engine.domain.event_types",
    "engine.domain.paging",
]
FORBIDDEN = ["sqlalchemy", "httpx", "dramatiq", "fastapi", "PIL"]
ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, json, sys
for name in sys.argv[2:]:
    importlib.import_module(name)
forbidden = json.loads(sys.argv[1])
print(json.dumps(sorted(
    m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden)
)))
"""


def every_domain_module() -> list[str]:
    found = [m.name for m in pkgutil.iter_modules(engine.domain.__path__, prefix="engine.domain.")]
    return sorted(set(NAMED) | set(found))


def test_every_named_module_exists() -> None:
    # Given the modules the domain is documented to hold
    # When we list what the package really contains
    found = set(every_domain_module())

    # Then each named one is there (so the purity check below covers them all)
    assert set(NAMED) <= found


def test_importing_the_domain_loads_no_io_library() -> None:
    # Given a fresh interpreter with nothing imported yet
    modules = every_domain_module()

    # When it imports engine.domain and every module in it
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(FORBIDDEN), *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then the imports succeed and none of the I/O libraries was loaded
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [], f"engine.domain pulled in {loaded}"


def test_the_probe_would_notice_a_forbidden_import() -> None:
    # Given the same probe
    # When a module that does load SQLAlchemy is imported
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(FORBIDDEN), "engine.adapters.tables"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then the probe reports it (so an empty answer above means something)
    assert proc.returncode == 0, proc.stderr
    assert "sqlalchemy" in json.loads(proc.stdout.strip().splitlines()[-1])
