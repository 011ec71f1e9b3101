"""Log records lose the row values a database error quotes, keep the error itself."""

from __future__ import annotations

import io
import logging

from engine.adapters import log_redaction

PG_ERROR = (
    'new row for relation "orders" violates check constraint "ck_orders_total"\n'
    "DETAIL:  Failing row contains (Dear Wilhelmina, 12 Quill Lane, Springfield).\n"
    "[SQL: INSERT INTO orders (message_body) VALUES (%(message_body)s)]"
)


def test_a_logged_database_error_keeps_its_kind_and_loses_the_row() -> None:
    # Given a logger whose handler has the filter, as an entry point installs it
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("inkwell.test-redaction")
    logger.addHandler(handler)
    logger.propagate = False
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        log_redaction.install()
        # When an exception quoting a row is logged, with a traceback and as an argument
        try:
            raise RuntimeError(PG_ERROR)
        except RuntimeError as e:
            logger.exception("stage failed for order %s", "b7f1d7a2")
            logger.warning("retrying after: %s", e)
    finally:
        root.removeHandler(handler)
        logger.removeHandler(handler)
    # Then the log has the error and the order id, and none of the row's values
    text = stream.getvalue()
    assert "stage failed for order b7f1d7a2" in text
    assert "violates check constraint" in text
    assert "RuntimeError" in text
    for secret in ("Wilhelmina", "Quill Lane", "Springfield", "message_body"):
        assert secret not in text, text
