"""Inputs that once answered 500 answer 400 validation_error: datetimes whose offset pushes
them past year 1 or 9999 in UTC, and URLs that the URL parser itself refuses."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MakeTenant, order_body
from tests.integration.test_malformed_input import assert_validation_error

EXTREMES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-05:00",
]


@pytest.mark.postgres
@pytest.mark.parametrize("value", EXTREMES)
def test_send_date_out_of_range_in_utc_is_a_validation_error(
    client: httpx.Client, make_tenant: MakeTenant, value: str
) -> None:
    tenant = make_tenant()
    r = client.post("/orders", json=order_body(send_date=value), headers=tenant.headers)
    assert_validation_error(r, "send_date")


@pytest.mark.postgres
@pytest.mark.parametrize("value", EXTREMES)
def test_key_expires_at_out_of_range_in_utc_is_a_validation_error(
    client: httpx.Client, make_tenant: MakeTenant, value: str
) -> None:
    tenant = make_tenant()
    r = client.post("/keys", json={"name": "k", "expires_at": value}, headers=tenant.headers)
    assert_validation_error(r, "expires_at")


@pytest.mark.postgres
@pytest.mark.parametrize("url", ["http://[::1/", "https://[not-an-ip]/hook", "https://[::1"])
def test_webhook_url_the_parser_refuses_is_a_validation_error(
    client: httpx.Client, make_tenant: MakeTenant, url: str
) -> None:
    tenant = make_tenant()
    r = client.post("/webhooks", json={"url": url}, headers=tenant.headers)
    assert_validation_error(r, "url")
    made = client.post(
        "/webhooks", json={"url": "https://example.com/hook"}, headers=tenant.headers
    )
    assert made.status_code == 201, made.text
    hook_id = made.json()["webhook"]["id"]
    r = client.put(f"/webhooks/{hook_id}", json={"url": url}, headers=tenant.headers)
    assert_validation_error(r, "url")
