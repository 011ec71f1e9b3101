"""Schemathesis over our served `/openapi.json`: every operation, generated inputs, a real
uvicorn on its own Postgres database, a real all-scope key. No answer is a 5xx, and every
answer matches the documented status codes, content types and bodies.

`FUZZ_EXAMPLES` sets the examples per operation (`make fuzz` raises it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
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
from tests.conftest import PARTNER, _admin, _pg_url, make_settings, order_body
from tests.fuzz.conftest import REQUESTS

VALID_CREATE: dict[str, object] = {
    f"{PARTNER}/orders": order_body(),
    f"{PARTNER}/webhooks": {"url": "https://example.com/hook", "events": ["*"]},
    f"{PARTNER}/keys": {"name": "fuzz"},
}
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


def _inputs(operation: Any) -> st.SearchStrategy[schemathesis.Case]:
    """Inputs that fit the documented schema, and inputs that break it."""
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )


@pytest.mark.postgres
def test_every_operation_answers_as_documented(served: tuple[str, str]) -> None:
    url, key = served
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    for operation in operations:

        @hypothesis.given(case=_inputs(operation))
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


@pytest.mark.postgres
def test_linked_calls_answer_as_documented(served: tuple[str, str]) -> None:
    """Create an order, webhook or key, then follow the documented links with its id."""
    url, key = served
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    linked: dict[str, int] = {}

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": url, "headers": headers}

        def before_call(self, case: schemathesis.Case) -> None:
            # Random bodies almost never pass our rules, so a create would rarely hand an id
            # to its links; a valid body (the stateless test covers the rest) makes it do so.
            if case.method == "POST" and case.path in VALID_CREATE:
                case.body = VALID_CREATE[case.path]

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            label = f"{case.operation.label} (stateful)"
            REQUESTS[label] = REQUESTS.get(label, 0) + 1
            if "{" in case.path and response.status_code < 400:
                linked[case.operation.label] = linked.get(case.operation.label, 0) + 1

        def validate_response(
            self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    # The server keeps its state from one scenario to the next, so one Hypothesis run of
    # many scenarios sees a replayed prefix take other links and calls that flaky; each
    # scenario is therefore its own run (and the first failure is reported as found).
    once = hypothesis.settings(
        max_examples=1,
        stateful_step_count=6,
        phases=[hypothesis.Phase.generate],
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        database=None,
        # Hypothesis's CI profile (CI=true) derandomizes: every one-example run would then
        # draw the same scenario, and one that follows no link would repeat forever.
        derandomize=False,
    )
    runs = max(EXAMPLES // 2, 10)
    # Which scenarios Hypothesis draws is random: keep drawing (up to 4x) until one of them
    # has followed a link, so a run that happened to draw none does not fail the suite.
    for done in range(4 * runs):
        if done >= runs and linked:
            break
        Machine.run(settings=once)
    # The links were followed: an id from a create was used, and found, by a later call.
    assert linked, "no linked call succeeded"
