"""Registering a webhook URL over the API: a malformed URL is a validation problem (never a
500), and a refused target never says what its host resolved to."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MakeTenant


def assert_url_invalid(r: httpx.Response) -> str:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "validation_error", body
    problems = [p for p in body["details"] if p["field"] == "url"]
    assert problems, body
    return str(problems[0]["error"]) + " " + r.text


@pytest.mark.parametrize(
    "url", ["http://[::1/", "http://[::1]]/", "http://0x7f.1/", "http://xn--/"]
)
def test_a_malformed_url_answers_400_not_500(
    client: httpx.Client, make_tenant: MakeTenant, url: str
) -> None:
    # Given a tenant (private targets allowed, as in tests)
    t = make_tenant()

    # When it registers, or moves an endpoint to, a malformed URL
    created = client.post("/webhooks", json={"url": url, "events": ["*"]}, headers=t.headers)
    hook = client.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/ok", "events": ["*"]}, headers=t.headers
    ).json()["webhook"]
    moved = client.put(f"/webhooks/{hook['id']}", json={"url": url}, headers=t.headers)

    # Then both answer 400 naming the url field
    assert_url_invalid(created)
    assert_url_invalid(moved)


def test_a_refused_name_does_not_reveal_what_it_resolved_to(
    strict_client: tuple[httpx.Client, dict[str, str]],
) -> None:
    c, headers = strict_client
    # When a tenant registers a name that resolves to loopback
    r = c.post("/webhooks", json={"url": "http://localhost:8080/in"}, headers=headers)

    # Then it is refused as not allowed, without the address
    text = assert_url_invalid(r)
    assert "not allowed" in text
    assert "127.0.0.1" not in text and "::1" not in text
