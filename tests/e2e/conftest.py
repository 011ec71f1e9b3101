"""Fixtures for end-to-end tests: a deployment of real processes and a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Deployment, Receiver


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: a fault scenario; `make chaos` runs its long pass (CHAOS_LONG=1)"
    )


@pytest.fixture
def deployment(pg_url: str, tmp_path: Path) -> Iterator[Deployment]:
    """Web, one worker process group and the scheduler, started (see harness.Deployment)."""
    d = Deployment(pg_url, tmp_path)
    try:
        d.start_all()
        yield d
    finally:
        d.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()
