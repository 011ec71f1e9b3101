"""Schemathesis over our served `/openapi.json`: every operation, generated inputs, a real
uvicorn on its own Postgres database, a real all-scope key. No answer is a 5xx, and every
answer matches the documented status codes, content types and bodies.

`FUZZ_EXAMPLES` sets the examples per operation (`make fuzz` raises it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.serve import ServerThread
from engine.bootstrap import bootstrap
from engine.services import tenants
from tests.conftest import _admin, _pg_url, make_settings
from tests.fuzz.conftest import REQUESTS

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def served(pg_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, bearer key) of our app on a Postgres database of its own."""
    name = f"inkwell_fuzz_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    app = bootstrap(make_settings(_pg_url(name), tmp))
    made = tenants.create_tenant(app, name="Fuzz", credits_cents=10**12)
    server = ServerThread(create_app(app)).start()
    try:
        yield server.url, made.api_key
    finally:
        server.stop()
        app.close()
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.postgres
def test_every_operation_answers_as_documented(served: tuple[str, str]) -> None:
    url, key = served
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            database=None,
            derandomize=True,
        )
        def call(case: schemathesis.Case) -> None:
            REQUESTS[case.operation.label] = REQUESTS.get(case.operation.label, 0) + 1
            case.call_and_validate(base_url=url, headers=headers, checks=CHECKS)

        call()
    assert set(REQUESTS) >= {op.label for op in operations}
    assert sum(REQUESTS.values()) >= 1000 or EXAMPLES < 50
