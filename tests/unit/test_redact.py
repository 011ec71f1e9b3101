"""Job-record text as a table: the error stays readable, the row values go.

The inputs are the texts real psycopg 3 / SQLAlchemy 2 errors had against Postgres 16 with
`hide_parameters=True` (captured from a live database), plus the SQLite forms.
"""

from __future__ import annotations

import pytest

from engine.domain import redact

SECRETS = ("Jane Doe", "12 Elm Street", "Elm", "Jane")
BACKGROUND = "(Background on this error at: https://sqlalche.me/e/20/gkpj)"

CASES = [
    pytest.param(
        'IntegrityError: (psycopg.errors.CheckViolation) new row for relation "t" violates '
        'check constraint "t_n_check"\nDETAIL:  Failing row contains (1, Dear Jane Doe, '
        "12 Elm Street, -1, null, null).\n[SQL: insert into t values (1, %(b)s, -1, null, "
        f"null)]\n[SQL parameters hidden due to hide_parameters=True]\n{BACKGROUND}",
        'IntegrityError: (psycopg.errors.CheckViolation) new row for relation "t" violates '
        f'check constraint "t_n_check"\n{BACKGROUND}',
        id="check-violation-failing-row",
    ),
    pytest.param(
        "DataError: (psycopg.errors.InvalidTextRepresentation) invalid input syntax for type "
        "uuid: \"Jane Doe 12 Elm\"\nCONTEXT:  unnamed portal parameter $1 = '...'\n"
        "[SQL: insert into t values (2, 'x', 1, %(u)s, null)]\n"
        f"[SQL parameters hidden due to hide_parameters=True]\n{BACKGROUND}",
        "DataError: (psycopg.errors.InvalidTextRepresentation) invalid input syntax for type "
        f"uuid: (hidden)\n{BACKGROUND}",
        id="bad-uuid-quotes-the-value",
    ),
    pytest.param(
        "DataError: (psycopg.errors.InvalidTextRepresentation) invalid input syntax for type "
        'json\nDETAIL:  Token "Jane" is invalid.\nCONTEXT:  JSON data, line 1: {Jane...\n'
        "unnamed portal parameter $1 = '...'\n[SQL: insert into t values (3, 'x', 1, null, "
        "cast(%(j)s as jsonb))]\n[SQL parameters hidden due to hide_parameters=True]\n"
        f"{BACKGROUND}",
        "DataError: (psycopg.errors.InvalidTextRepresentation) invalid input syntax for type "
        f"json\n{BACKGROUND}",
        id="bad-json-context",
    ),
    pytest.param(
        'duplicate key value violates unique constraint "ux_orders_external_id"\n'
        "DETAIL:  Key (tenant_id, mode, external_id)=(7, test, Jane Doe) already exists.",
        'duplicate key value violates unique constraint "ux_orders_external_id"',
        id="unique-violation-key",
    ),
    pytest.param(
        "Failing row contains (1, Jane Doe, 12 Elm Street).",
        "Failing row contains (hidden)",
        id="failing-row-on-its-own",
    ),
    pytest.param(
        "IntegrityError: (sqlite3.IntegrityError) CHECK constraint failed: total_not_negative\n"
        "[SQL: UPDATE orders SET total_cents=? WHERE orders.id = ?]\n"
        "[parameters: ('Jane Doe', '12 Elm Street')]",
        "IntegrityError: (sqlite3.IntegrityError) CHECK constraint failed: total_not_negative",
        id="sqlite-with-parameters-shown",
    ),
    pytest.param(
        "ValueError: font file is corrupt",
        "ValueError: font file is corrupt",
        id="plain-error-unchanged",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_database_errors_keep_the_error_and_lose_the_row(text: str, expected: str) -> None:
    got = redact.operator_text(text)
    assert got == expected
    assert not any(secret in got for secret in SECRETS)


def test_a_chained_traceback_loses_every_detail_and_keeps_its_shape() -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "engine/services/pipeline.py", line 9, in render_order\n'
        'psycopg.errors.CheckViolation: new row for relation "orders" violates check '
        'constraint "ck_orders_total_not_negative"\n'
        "DETAIL:  Failing row contains (1, Jane Doe,\n12 Elm Street, -1).\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n"
        '  File "engine/services/jobs.py", line 120, in run\n'
        "sqlalchemy.exc.IntegrityError: (psycopg.errors.CheckViolation) new row for relation "
        '"orders" violates check constraint "ck_orders_total_not_negative"\n'
        "DETAIL:  Failing row contains (1, Jane Doe, 12 Elm Street, -1).\n"
        "[SQL: UPDATE orders SET total_cents = -1 WHERE id = %(oid)s::UUID]\n"
        f"[SQL parameters hidden due to hide_parameters=True]\n{BACKGROUND}\n"
    )
    got = redact.operator_text(traceback)
    assert not any(secret in got for secret in SECRETS)
    assert "DETAIL" not in got and "[SQL" not in got
    assert got.count("Traceback (most recent call last):") == 2
    assert "The above exception was the direct cause" in got
    assert got.count('violates check constraint "ck_orders_total_not_negative"') == 2
    assert 'File "engine/services/jobs.py", line 120, in run' in got
