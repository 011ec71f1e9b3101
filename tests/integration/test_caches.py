"""The per-process caches never weaken what a partner relies on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.serve import ServerThread
from engine.bootstrap import Inkwell, bootstrap
from engine.services import tenants
from tests.conftest import PARTNER, make_settings, order_body


@pytest.fixture
def cached_app(pg_url: str, tmp_path: Path) -> Iterator[tuple[Inkwell, str]]:
    app = bootstrap(make_settings(pg_url, tmp_path, auth_cache_s=60, tenant_cache_s=60))
    server = ServerThread(create_app(app)).start()
    try:
        yield app, server.url + PARTNER
    finally:
        server.stop()
        app.close()


def test_a_revoked_key_is_refused_at_once_even_with_the_cache_on(
    cached_app: tuple[Inkwell, str],
) -> None:
    # Given a key that has just been used (so its lookup is cached for a minute)
    app, url = cached_app
    made = tenants.create_tenant(app, name="Acme", credits_cents=1000)
    admin = {"Authorization": f"Bearer {made.api_key}"}
    with httpx.Client(base_url=url) as c:
        second = c.post("/keys", json={"name": "second"}, headers=admin).json()["key"]
        victim = {"Authorization": f"Bearer {second['full_key']}"}
        assert c.get("/balance", headers=victim).status_code == 200

        # When it is revoked through the API
        assert c.delete(f"/keys/{second['id']}", headers=admin).status_code == 200

        # Then its next request is refused, without waiting for the cache to expire
        r = c.get("/balance", headers=victim)
        assert r.status_code == 401
        assert r.json()["error"] == "revoked_api_key"


def test_cached_tenants_still_never_overdraw(cached_app: tuple[Inkwell, str]) -> None:
    # Given a tenant whose row is cached, with money for exactly two letters
    app, url = cached_app
    made = tenants.create_tenant(app, name="Acme", credits_cents=2 * 298)
    headers = {"Authorization": f"Bearer {made.api_key}"}
    with httpx.Client(base_url=url) as c:
        # When it orders three times
        codes = [c.post("/orders", json=order_body(1), headers=headers).status_code for _ in "abc"]
        # Then the third is refused: the wallet is read fresh, only prices are cached
        assert codes == [201, 201, 402]
        assert c.get("/balance", headers=headers).json()["balance_cents"] == 0
