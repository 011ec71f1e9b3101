"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from engine.services import tenants
from tests.conftest import MakeInkwell, serve
from tests.factories import bearer


@pytest.fixture
def strict_client(make_inkwell: MakeInkwell) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """Our app with WEBHOOK_ALLOW_PRIVATE_TARGETS false, and a tenant's auth headers."""
    app = make_inkwell(webhook_allow_private_targets=False)
    made = tenants.create_tenant(app, name="Strict", credits_cents=10_000)
    with serve(app) as c:
        yield c, bearer(made.api_key)
